"""Fitting the agent's conversation into the context window: oldest tool output first, the
latest turn whole, every call still paired with its result."""

from __future__ import annotations

from activities.codegen.agent.context import (
    CHARS_PER_TOKEN,
    DROPPED,
    exchange_chars,
    fit_to_window,
    input_budget,
    summarise,
)
from activities.codegen.agent.protocol import Exchange, ModelTurn, ToolCall, ToolOutcome


def turn(n: int, out_chars: int = 4_000, **args: object) -> Exchange:
    call = ToolCall(id=f"c{n}", name="run", arguments={"command": f"make {n}", **args})
    body = f"exit code {n % 2}\n" + "x" * out_chars
    return Exchange(
        turn=ModelTurn(text=f"turn {n} " + "t" * 50, tool_calls=[call]),
        outcomes=[ToolOutcome(call_id=f"c{n}", name="run", content=body)],
    )


def total(history: list[Exchange]) -> int:
    return sum(exchange_chars(e) for e in history)


def test_a_conversation_that_fits_is_left_alone() -> None:
    history = [turn(n) for n in range(3)]
    assert fit_to_window(history, 1_000, 100_000) == history


def test_the_oldest_output_is_cut_first_and_the_latest_turn_stays_whole() -> None:
    history = [turn(n) for n in range(10)]
    fixed = 2_000
    budget = (total(history) - 3 * 3_500 + fixed) // CHARS_PER_TOKEN  # about 3 turns too many
    seen = fit_to_window(history, fixed, budget)
    assert total(seen) + fixed <= budget * CHARS_PER_TOKEN
    assert seen[0].outcomes[0].content.endswith(" [trimmed]")
    assert len(seen[0].outcomes[0].content) == 300 + len(" [trimmed]")
    assert seen[5:] == history[5:]  # the newer turns untouched
    for a, b in zip(seen, history, strict=True):  # every call keeps its result
        assert [c.id for c in a.turn.tool_calls] == [o.call_id for o in a.outcomes]
        assert [c.id for c in b.turn.tool_calls] == [c.id for c in a.turn.tool_calls]


def test_when_cutting_is_not_enough_old_turns_become_bounded_summaries() -> None:
    history = [turn(n) for n in range(30)]
    budget = (exchange_chars(history[-1]) + 30 * 600) // CHARS_PER_TOKEN
    seen = fit_to_window(history, 0, budget)
    assert total(seen) <= budget * CHARS_PER_TOKEN
    tail = "x" * 100  # the last line, cut
    assert seen[0].outcomes[0].content == (
        f'[run(command="make 0")] exit code 0 ... {tail} [2 lines, 4,012 characters{DROPPED}]'
    )
    assert seen[1].outcomes[0].content.startswith('[run(command="make 1")] exit code 1 ... x')
    assert seen[-1] == history[-1]


def test_a_summary_names_the_tool_arguments_error_first_and_last_lines_and_size() -> None:
    output = "exit code 1\n" + "".join(f"line {n}\n" for n in range(500)) + "FAILED (failures=1)\n"
    call = ToolCall(id="r", name="run", arguments={"command": "python -m unittest", "n": 3})
    failed = ToolOutcome(call_id="r", name="run", content=output, is_error=True)
    brief = summarise(call, failed)
    assert brief == (
        '[run(command="python -m unittest", n=3)] error; exit code 1 ... FAILED (failures=1) '
        f"[502 lines, {len(output):,} characters{DROPPED}]"
    )
    # bounded whatever the output and the arguments: long values are given as their size
    huge = ToolCall(id="w", name="write_file", arguments={"path": "a.py", "content": "y" * 10**5})
    wide = ToolOutcome(call_id="w", name="write_file", content=("z" * 10**5 + "\n") * 3)
    brief = summarise(huge, wide)
    assert 'path="a.py"' in brief and "content=<100000 characters>" in brief
    assert len(brief) < 500


def test_a_summary_is_made_from_the_untrimmed_turn() -> None:
    full = [turn(n, 10_000) for n in range(12)]
    for ex in full:  # a last line the trimmed copy does not have
        ex.outcomes[0].content += "\nRan 12 tests: OK"
    trimmed = [
        ex.model_copy(update={"outcomes": [o.model_copy(update={"content": o.content[:300]})]})
        for ex in full
        for o in ex.outcomes
    ]
    budget = (total(trimmed) - 500) // CHARS_PER_TOKEN  # the trimmed copy is too much
    seen = fit_to_window(trimmed, 0, budget, full=full)
    size = len(full[0].outcomes[0].content)
    assert (
        seen[0]
        .outcomes[0]
        .content.endswith(f"... Ran 12 tests: OK [3 lines, {size:,} characters{DROPPED}]")
    )


def test_long_tool_arguments_of_old_turns_are_cut_too() -> None:
    write = Exchange(
        turn=ModelTurn(
            tool_calls=[ToolCall(id="w", name="write_file",
                                 arguments={"path": "big.py", "content": "y" * 50_000})]
        ),
        outcomes=[ToolOutcome(call_id="w", name="write_file", content="big.py: written")],
    )  # fmt: skip
    history = [write, turn(1, 100)]
    seen = fit_to_window(history, 0, 5_000 // CHARS_PER_TOKEN)
    args = seen[0].turn.tool_calls[0].arguments
    assert args["path"] == "big.py" and len(args["content"]) <= 300 + len(" [trimmed]")
    assert seen[1] == history[1]


def test_a_latest_turn_too_large_alone_is_cut_to_fit() -> None:
    history = [turn(0, 100), turn(1, 60_000)]
    budget = 10_000 // CHARS_PER_TOKEN
    seen = fit_to_window(history, 1_000, budget)
    assert total(seen) + 1_000 <= budget * CHARS_PER_TOKEN
    assert seen[-1].outcomes[0].content.startswith("exit code 1\nxxx")


def test_the_answer_keeps_its_room_but_at_most_half_the_window() -> None:
    assert input_budget(100_000, 4_096) == 95_904
    assert input_budget(6_000, 4_096) == 3_000


def test_a_denser_tokenizer_reported_by_the_provider_shrinks_the_next_request() -> None:
    from activities.codegen.agent.context import tokens_per_estimate
    from activities.codegen.agent.loop import AgentLimits
    from activities.codegen.llm.config import LLMConfig
    from activities.phases.agent import fitted

    assert tokens_per_estimate(0, 100) == 1.0 and tokens_per_estimate(50, 100) == 1.0
    assert tokens_per_estimate(300, 100) == 3.0 and tokens_per_estimate(10_000, 1) == 4.0
    limits = AgentLimits(context_tokens=12_000)
    config = LLMConfig(provider="openai", model="m", max_output_tokens=4_000)
    history = [turn(n, 3_000) for n in range(6)]
    plain, plain_estimate, _ = fitted(limits, config, "task", history)
    assert plain == history and plain_estimate < 8_000  # fits as it is
    # the provider counted the request before the last turn as three times our estimate
    _, before, _ = fitted(limits, config, "task", history[:-1])
    last = history[-1]
    counted = last.model_copy(
        update={"turn": last.turn.model_copy(update={"input_tokens": 3 * before})}
    )
    dense, estimate, wanted = fitted(limits, config, "task", [*history[:-1], counted])
    assert dense[-1] == counted and dense[0] != history[0]  # the oldest output cut
    assert estimate <= 8_000 and wanted == 4_000
    assert total(dense) < total(history) // 2

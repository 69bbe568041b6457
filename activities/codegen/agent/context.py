"""Fitting the conversation into the model's context window, without I/O.

Tokens are estimated as characters / 4 of what the request carries (system prompt, task,
tool specs, every turn as JSON), scaled up when the provider counted the previous request as
more than that estimate (a tokenizer denser than 4 characters a token). When the estimate
passes the window (less the room kept for the answer), the oldest turns shrink first: their
tool output, tool-call arguments and text are cut short, then reduced to a bounded summary
(`summarise`: the tool and its short arguments, an error mark, the output's first and last
lines, e.g. `exit code 1` ... `FAILED (failures=1)`, and the size dropped). The task and the
latest turn stay whole; every tool call keeps its result, so the provider's pairing rules
still hold."""

from __future__ import annotations

import json
from typing import Any

from activities.codegen.agent.models import ToolSpec
from activities.codegen.agent.protocol import Exchange, ToolCall, ToolOutcome

CHARS_PER_TOKEN = 4
DROPPED = " dropped to fit the context window"


def estimate_tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def exchange_chars(ex: Exchange) -> int:
    return len(json.dumps(ex.model_dump(mode="json")))


def input_budget(context_tokens: int, max_output_tokens: int) -> int:
    """Tokens the request may hold: the window less the answer's room (at most half)."""
    return context_tokens - min(max_output_tokens, context_tokens // 2)


def tokens_per_estimate(reported_tokens: int, estimated_tokens: int) -> float:
    """How much the provider's count of a request passed our estimate of it (1.0 when it did
    not or nothing was reported; at most 4): later estimates are scaled by it."""
    if reported_tokens <= 0 or estimated_tokens <= 0:
        return 1.0
    return min(max(reported_tokens / estimated_tokens, 1.0), 4.0)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + " [trimmed]"


def _summary(text: str) -> str:
    first = text.strip().splitlines()[0][:120] if text.strip() else ""
    return f"{first} [{len(text):,} characters{DROPPED}]"


SUMMARY_LINE = 100  # characters of a first or last line in a summary
SUMMARY_ARG = 60  # characters of an argument in a summary; longer ones are given as a size


def _argument(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > SUMMARY_ARG:
        return f"<{len(text)} characters>"
    return json.dumps(value)


def summarise(call: ToolCall | None, outcome: ToolOutcome) -> str:
    """A tool result as an old turn's stand-in: at most about 500 characters whatever the
    output, e.g. `[run(command="make test")] error; exit code 1 ... FAILED (failures=1)
    [38 lines, 2,345 characters dropped to fit the context window]`."""
    args = ", ".join(f"{k}={_argument(v)}" for k, v in (call.arguments if call else {}).items())
    head = f"[{outcome.name}({args[: 3 * SUMMARY_ARG]})]" + (" error;" if outcome.is_error else "")
    lines = [ln.strip() for ln in outcome.content.splitlines() if ln.strip()]
    shown = ""
    if lines:
        shown = " " + lines[0][:SUMMARY_LINE]
        if len(lines) > 1:
            shown += " ... " + lines[-1][:SUMMARY_LINE]
    return f"{head}{shown} [{len(lines)} lines, {len(outcome.content):,} characters{DROPPED}]"


def _cut_value(value: Any, limit: int) -> Any:
    return _cut(value, limit) if isinstance(value, str) else value


def _shrink(ex: Exchange, limit: int | None, original: Exchange | None = None) -> Exchange:
    """The turn with long strings cut to `limit` characters, or (limit None) summarised:
    each result by `summarise` of the original turn's call and result, where that is
    shorter than what the model would see otherwise."""

    def text(s: str) -> str:
        if limit is not None:
            return _cut(s, limit)
        return s if len(s) <= 200 else _summary(s)

    calls = [
        c.model_copy(
            update={
                "arguments": {k: _cut_value(v, limit or 40) for k, v in c.arguments.items()},
                "invalid_arguments": None
                if c.invalid_arguments is None
                else _cut(c.invalid_arguments, limit or 40),
            }
        )
        for c in ex.turn.tool_calls
    ]
    source = original or ex
    by_id = {c.id: c for c in source.turn.tool_calls}
    full = {o.call_id: o for o in source.outcomes}

    def result(o: ToolOutcome) -> str:
        if limit is not None:
            return _cut(o.content, limit)
        brief = summarise(by_id.get(o.call_id), full.get(o.call_id, o))
        return brief if len(brief) < len(o.content) else o.content

    outcomes: list[ToolOutcome] = [o.model_copy(update={"content": result(o)}) for o in ex.outcomes]
    turn = ex.turn.model_copy(update={"text": text(ex.turn.text), "tool_calls": calls})
    return Exchange(turn=turn, outcomes=outcomes)


def fit_to_window(
    history: list[Exchange], fixed_chars: int, budget_tokens: int, trimmed_chars: int = 300,
    full: list[Exchange] | None = None,
) -> list[Exchange]:  # fmt: skip
    """The history as the model may see it: unchanged when it fits `budget_tokens` with
    `fixed_chars` (system, task, tools) beside it; else the oldest turns (never the latest)
    cut to `trimmed_chars`, then summarised, oldest first, until it fits. The latest turn's
    tool output is cut last, and only if it alone is too much. A summary is made from `full`
    (the same turns before any trimming, when the history passed in was trimmed already), so
    its last line and the size dropped are the real output's."""
    out = list(history)
    sizes = [exchange_chars(ex) for ex in out]
    allowed = budget_tokens * CHARS_PER_TOKEN - fixed_chars

    def fits() -> bool:
        return sum(sizes) <= allowed

    for limit in (trimmed_chars, None):
        for n in range(len(out) - 1):
            if fits():
                return out
            out[n] = _shrink(out[n], limit, (full or history)[n])
            sizes[n] = exchange_chars(out[n])
    if out and not fits():
        last = out[-1]
        bare = [o.model_copy(update={"content": ""}) for o in last.outcomes]
        frame = exchange_chars(Exchange(turn=last.turn, outcomes=bare))
        spare = max(allowed - sum(sizes[:-1]) - frame, 200)
        share = spare // (2 * max(1, len(last.outcomes)))  # JSON escapes may double it
        cut: list[ToolOutcome] = [
            o.model_copy(update={"content": _cut(o.content, share)}) for o in last.outcomes
        ]
        out[-1] = Exchange(turn=last.turn, outcomes=cut)
    return out


def fixed_chars(system: str, task: str, tools: list[ToolSpec]) -> int:
    """What every request carries besides the turns: the system prompt, the task and the
    tool specs."""
    specs = [
        {"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools
    ]
    return len(system) + len(task) + len(json.dumps(specs))

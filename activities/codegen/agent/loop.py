"""The decisions of the agent loop that need no I/O: the prompt, the conversation as the
model sees it (old tool output trimmed), the stops (turns, wall time, stuck, persisting
errors) and the per-turn event."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from activities.codegen.agent.protocol import Exchange, ToolOutcome, fingerprint
from activities.codegen.engine import FeatureRequest
from domain.errors import BudgetExceeded, GenerationFailed, PolicyViolation
from domain.redaction import redact

SYSTEM = """You are a software engineer working in a git repository through tools.
Explore (list_files, search, read_file), change files (edit_file, write_file), run the
tests with `run`, fix what fails, and call `finish` with a short summary when the change is
complete and the tests pass. Commands run without network access. Paths are relative to the
repository root; `.git` is out of reach. When `declare_tasks` is offered, start by declaring
your task list with it: each task is delivered as one commit, and `finish` ends the current
task (after the last one, the work)."""


@dataclass(frozen=True)
class AgentLimits:
    """Stops of one agent conversation (None = unlimited); tokens and cost are the
    execution's model budget (LLMConfig)."""

    max_turns: int = 50
    max_wall_seconds: float | None = 3600.0
    command_timeout_s: float = 300.0
    output_chars: int = 8_000
    # the same action and observation this many times in a row (or an A-B-A-B pattern)
    stuck_repeats: int = 3
    # this many tool errors of one kind (a forbidden path, a command timeout) stop the run
    max_policy_errors: int = 3
    max_timeouts: int = 2
    # the same tool error or failing command output this many times in the conversation
    # (not necessarily in a row; timings in the output ignored) stops the run
    max_repeated_errors: int = 4
    # tool output older than this many turns reaches the model trimmed
    keep_full_turns: int = 8
    trimmed_chars: int = 300
    # the model's context window in tokens (estimated as characters / 4): nearing it, the
    # oldest turns are cut, then summarised (context.fit_to_window); None = no limit
    context_tokens: int | None = 100_000


def task_prompt(request: FeatureRequest) -> str:
    rules = request.constraints
    parts = [f"# Task: {request.title}\n\n{request.description}"]
    if rules.allowed_paths:
        parts.append(f"Only these paths may change: {', '.join(rules.allowed_paths)}")
    if rules.forbidden_paths:
        parts.append(f"These paths must not change: {', '.join(rules.forbidden_paths)}")
    return "\n\n".join(parts)


def visible_history(history: list[Exchange], limits: AgentLimits) -> list[Exchange]:
    """The conversation with tool output of older turns cut short (the task and the latest
    turns stay whole), so a long run stays inside the model's window."""
    keep_from = len(history) - limits.keep_full_turns
    out: list[Exchange] = []
    for n, ex in enumerate(history):
        if n >= keep_from:
            out.append(ex)
            continue
        trimmed = [
            o.model_copy(update={"content": o.content[: limits.trimmed_chars] + " [trimmed]"})
            if len(o.content) > limits.trimmed_chars
            else o
            for o in ex.outcomes
        ]
        out.append(ex.model_copy(update={"outcomes": trimmed}))
    return out


def conversation_seconds(
    turns: Sequence[tuple[int, datetime]], step_index: int, now: datetime
) -> float:
    """The wall time the conversation has used: from its first stored turn to now, less the
    gap between the last declaring turn (step -1) and the first task turn, which is the plan
    activity and a human's approval (hours, perhaps), not the agent's time. `turns` are the
    stored (step index, created at) pairs in order; `step_index` is the turn about to run."""
    if not turns:
        return 0.0
    used = (now - turns[0][1]).total_seconds()
    declared = [at for step, at in turns if step < 0]
    tasks = [at for step, at in turns if step >= 0]
    resumed = tasks[0] if tasks else (now if step_index >= 0 else None)
    if declared and resumed is not None:
        used -= max(0.0, (resumed - declared[-1]).total_seconds())
    return used


def check_before_call(turn: int, elapsed_s: float, limits: AgentLimits) -> None:
    """Raise BudgetExceeded when the next model call may not start."""
    if turn >= limits.max_turns:
        raise BudgetExceeded(
            f"agent turn budget exhausted: {turn} of {limits.max_turns} turns used",
            details={"turns": turn, "max_turns": limits.max_turns},
        )
    if limits.max_wall_seconds is not None and elapsed_s > limits.max_wall_seconds:
        raise BudgetExceeded(
            f"agent wall-time budget exhausted: {elapsed_s:.0f} s of "
            f"{limits.max_wall_seconds:.0f} s",
            details={"elapsed_s": round(elapsed_s), "max_wall_seconds": limits.max_wall_seconds},
        )


def check_after_turn(history: list[Exchange], limits: AgentLimits) -> None:
    """Raise when the conversation is stuck or an error persists."""
    prints = [fingerprint(ex) for ex in history]
    n = limits.stuck_repeats
    if len(prints) >= n and len(set(prints[-n:])) == 1:
        raise GenerationFailed(
            f"agent is stuck: the same action and observation {n} times in a row "
            f"(turns {len(prints) - n}..{len(prints) - 1})",
            details={"reason": "stuck", "turn": len(prints) - 1},
        )
    if len(prints) >= 4 and prints[-1] == prints[-3] and prints[-2] == prints[-4]:
        raise GenerationFailed(
            f"agent is stuck alternating between two actions (turns {len(prints) - 4}.."
            f"{len(prints) - 1})",
            details={"reason": "stuck_alternating", "turn": len(prints) - 1},
        )
    outcomes = [o for ex in history for o in ex.outcomes]
    policy = [o for o in outcomes if o.kind == "policy"]
    if len(policy) >= limits.max_policy_errors:
        raise PolicyViolation(
            f"agent kept touching forbidden paths ({len(policy)} refused tool calls); last: "
            + redact(policy[-1].content)[:300],
            details={"reason": "forbidden_paths", "refused": len(policy)},
        )
    timeouts = [o for o in outcomes if o.kind == "timeout"]
    if len(timeouts) >= limits.max_timeouts:
        raise GenerationFailed(
            f"agent commands timed out {len(timeouts)} times (limit "
            f"{limits.command_timeout_s:.0f} s each); stopping",
            details={"reason": "command_timeouts", "timeouts": len(timeouts)},
        )
    check_repeated_errors(history, limits)


_TIMING = re.compile(r"\d+(?:\.\d+)?\s*(?:ms|s|sec|seconds)\b")


def error_signature(outcome: ToolOutcome) -> str | None:
    """What makes two tool errors, or two failing commands' results, the same: the tool and
    its output with timings left out; None for a success (and for the stops of their own:
    forbidden paths, timeouts)."""
    if outcome.kind in ("policy", "timeout", "finish"):
        return None
    failing_run = outcome.name == "run" and not outcome.content.startswith("exit code 0\n")
    if not (outcome.is_error or failing_run):
        return None
    return outcome.name + "\0" + _TIMING.sub("<t>", outcome.content).strip()


def check_repeated_errors(history: list[Exchange], limits: AgentLimits) -> None:
    """Raise when one error (a tool's, or a failing command's output) keeps coming back."""
    counts: dict[str, int] = {}
    for ex in history:
        for o in ex.outcomes:
            sig = error_signature(o)
            if sig is None:
                continue
            counts[sig] = counts.get(sig, 0) + 1
            if counts[sig] >= limits.max_repeated_errors:
                lines = [ln for ln in redact(o.content).splitlines() if ln.strip()] or [""]
                last = lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1].strip()}"
                raise GenerationFailed(
                    f"agent keeps hitting the same error: {o.name} failed the same way "
                    f"{counts[sig]} times; last: {last[:300]}",
                    details={"reason": "repeated_errors", "tool": o.name, "times": counts[sig]},
                )


def finished(exchange: Exchange) -> str | None:
    """The finish summary when the turn finished the run."""
    for o in exchange.outcomes:
        if o.kind == "finish":
            return o.content
    return None


def turn_event(turn: int, exchange: Exchange, model_s: float, tools_s: float) -> dict[str, object]:
    """The `agent.turn` event: counts and durations, a short redacted preview at most."""
    return {
        "turn": turn,
        "input_tokens": exchange.turn.input_tokens,
        "output_tokens": exchange.turn.output_tokens,
        "tools": [
            {"name": o.name, "error": o.is_error, "kind": o.kind, "duration_s": o.duration_s}
            for o in exchange.outcomes
        ],
        "model_s": round(model_s, 3),
        "tools_s": round(tools_s, 3),
        "preview": redact(exchange.turn.text)[:120],
    }

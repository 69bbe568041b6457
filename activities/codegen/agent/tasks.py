"""The agent's declared task list: the conversation opens with declaring turns (stored as
step -1) in which the model explores and calls `declare_tasks`; the declared tasks become
the execution's plan steps (so the approval gate covers them), and each task's turns end
with `finish`, which delivers that task as one commit.

When the execution requires plan approval, the declaring turns may only explore (no edit,
no command, no finish) and end when a task list is declared. Without approval declaring is
optional: the first turn that calls anything but an exploring tool ends the declaring
turns, and without a declared list the plan is one step (the request's title)."""

from __future__ import annotations

from activities.codegen.agent.models import ToolSpec
from activities.codegen.agent.protocol import Exchange
from domain.contracts import DECLARING_STEP
from domain.enums import StepType
from domain.values import ExecutionPlan, PlanStep

DECLARING = DECLARING_STEP  # the step index the declaring turns are stored under
EXPLORING = ("read_file", "list_files", "search")
MAX_TASKS = 20

DECLARE_SPEC = ToolSpec(
    "declare_tasks",
    "Declare your task list before changing anything: short imperative task descriptions, "
    "in order. Each task is delivered as one commit; call `finish` when a task is done.",
    {
        "type": "object",
        "properties": {"tasks": {"type": "array", "items": {"type": "string"}}},
        "required": ["tasks"],
    },
)


def offered(tools: list[ToolSpec], step_index: int, strict: bool) -> list[ToolSpec]:
    """The tools of a turn: declaring turns add `declare_tasks` (only it and the exploring
    tools when approval is required); task turns have every tool but it."""
    if step_index != DECLARING:
        return tools
    if strict:
        return [t for t in tools if t.name in EXPLORING] + [DECLARE_SPEC]
    return [*tools, DECLARE_SPEC]


def refusal(name: str, step_index: int, strict: bool) -> str | None:
    """Why a tool may not be called in this turn, if it may not."""
    if step_index != DECLARING:
        if name == "declare_tasks":
            return "the task list is already declared; work on the current task"
        return None
    if name == "finish":
        return "finish ends a task: call it once the task's changes are made, in a later turn"
    if strict and name not in EXPLORING and name != "declare_tasks":
        return (
            f"{name} is not allowed yet: declare your task list with declare_tasks first; "
            "changes wait for the plan's approval"
        )
    return None


def validated(tasks: object) -> list[str]:
    """The declared tasks, or ValueError saying what is wrong with them."""
    if not isinstance(tasks, list) or not tasks:
        raise ValueError("tasks must be a non-empty list of strings")
    if len(tasks) > MAX_TASKS:
        raise ValueError(f"at most {MAX_TASKS} tasks")
    out = [t.strip().splitlines()[0][:200] for t in tasks if isinstance(t, str) and t.strip()]
    if len(out) != len(tasks):
        raise ValueError("every task must be a non-empty string")
    return out


def declared(history: list[Exchange]) -> list[str] | None:
    """The task list a declaring turn declared (the last accepted one), if any."""
    found: list[str] | None = None
    for ex in history:
        calls = {c.id: c for c in ex.turn.tool_calls}
        for o in ex.outcomes:
            if o.kind == "declare" and o.call_id in calls:
                found = validated(calls[o.call_id].arguments.get("tasks"))
    return found


def ends_declaring(exchange: Exchange, strict: bool) -> bool:
    """Whether this declaring turn is the last one."""
    if any(o.kind == "declare" for o in exchange.outcomes):
        return True
    return not strict and any(c.name not in EXPLORING for c in exchange.turn.tool_calls)


def plan_of(tasks: list[str]) -> ExecutionPlan:
    steps = [
        PlanStep(index=n, description=t, type=StepType.MODIFY_FILE) for n, t in enumerate(tasks)
    ]
    return ExecutionPlan(steps=steps, summary=f"agent: {len(tasks)} declared tasks")


def next_task_note(tasks: list[str], index: int) -> str:
    """What a `finish` of task `index` tells the model (empty after the last task)."""
    if index + 1 >= len(tasks):
        return ""
    following = tasks[index + 1]
    return f" Task {index + 1} of {len(tasks)} is delivered. Next, task {index + 2}: {following}"

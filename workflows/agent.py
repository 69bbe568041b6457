"""The agent engine's conversation as the workflow drives it: one activity per turn."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from domain.contracts import (
    DECLARING_STEP,
    AgentTurnRequest,
    Carryover,
    CarryStage,
    ExecutionRef,
    StepRequest,
    WorkflowTimings,
)
from workflows import policies
from workflows.activities import AgentActivities
from workflows.calls import Worktree
from workflows.lease import history_too_long


async def agent_conversation(
    worktree: Worktree,
    ref: ExecutionRef,
    request: StepRequest,
    description: str,
    carry: Carryover | None,
    timings: WorkflowTimings,
    hand_over: Callable[[CarryStage, tuple[int, int]], NoReturn],
) -> None:
    """Turn after turn (a model call and its tool calls, each stored before the next; the
    activity is idempotent by turn index) until the model finishes; a stop (a budget, a
    stuck loop, a forbidden path) fails the activity and with it the execution. A long
    conversation hands over to a fresh history between turns (at the next turn)."""
    step, turn = resumed_at(carry)
    start = turn = turn if step == request.step_index else 0
    while True:
        if turn > start and history_too_long(timings):
            stage: CarryStage = "agent_tasks" if request.step_index < 0 else "agent"
            hand_over(stage, (request.step_index, turn))
        result = await worktree.call(
            AgentActivities.agent_turn,
            AgentTurnRequest(
                ref=ref, step_index=request.step_index, turn_index=turn,
                commit_timestamp=request.commit_timestamp,
            ),
            policies.STEP_TIMEOUT,
            f"step {request.step_index}: agent turn {turn} — {description[:50]}",
        )  # fmt: skip
        if result.finished:
            return
        turn += 1


async def declare_tasks(
    worktree: Worktree,
    ref: ExecutionRef,
    started_at: int,
    carry: Carryover | None,
    timings: WorkflowTimings,
    hand_over: Callable[[CarryStage, tuple[int, int]], NoReturn],
) -> None:
    """The declaring turns (step -1) before the plan: the model explores and declares its
    task list, which the plan activity then makes the plan's steps (and the approval gate
    waits on)."""
    # (as every step's: the run's start plus the step index)
    stamp = started_at + DECLARING_STEP
    request = StepRequest(ref=ref, step_index=DECLARING_STEP, commit_timestamp=stamp)
    await agent_conversation(
        worktree, ref, request, "declare the task list", carry, timings, hand_over
    )


def resumed_at(carry: Carryover | None) -> tuple[int, int]:
    """(step, turn) a continued agent conversation resumes at (step -1 while declaring);
    (0, 0) for a fresh run."""
    if carry is None or carry.stage not in ("agent", "agent_tasks"):
        return 0, 0
    return carry.agent_step or 0, carry.agent_turn or 0

"""The agent engine's conversation as the workflow drives it: one activity per turn."""

from __future__ import annotations

from domain.contracts import AgentTurnRequest, ExecutionRef, StepRequest
from workflows import policies
from workflows.activities import AgentActivities
from workflows.calls import Worktree


async def agent_conversation(
    worktree: Worktree, ref: ExecutionRef, request: StepRequest, description: str
) -> None:
    """Turn after turn (a model call and its tool calls, each stored before the next; the
    activity is idempotent by turn index) until the model finishes; a stop (a budget, a
    stuck loop, a forbidden path) fails the activity and with it the execution."""
    turn = 0
    while True:
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

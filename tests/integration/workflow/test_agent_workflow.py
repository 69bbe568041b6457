"""The workflow's agent path with stubbed activities: the declaring turns (step -1) before
the plan, one agent_turn per turn, in order, the approval gate on the declared plan before
any task's turn, and a long conversation continuing as new between turns without repeating
one."""

from __future__ import annotations

import os
from typing import Any

import pytest
from temporalio.client import Client

from domain.contracts import PlanDecision
from tests.integration.workflow.stubs import FAST, Stubs, start, stubbed_workers
from tests.integration.workflow.test_workflow_alone import (
    HISTORIES,
    ending,
    queue,  # noqa: F401
    stubs,  # noqa: F401
    until,
)


def latest(handle: Any) -> Any:
    return handle._client.get_workflow_handle(handle.id)  # the latest run


async def test_a_long_agent_conversation_continues_as_new_between_turns(
    temporal_client: Client,
    stubs: Stubs,  # noqa: F811
    queue: str,  # noqa: F811
) -> None:
    stubs.agent_turns = 14  # per step (the declaring turns too); the stubbed plan has two
    timings = FAST.model_copy(update={"history_events_limit": 60})
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue, engine="agent", timings=timings)
        state, _, message = await ending(handle, within=120)
        if os.environ.get("BUILDER_RECORD_HISTORIES") == "1":
            # the first run (it ends continuing as new) and the last (it starts from the carry)
            first = temporal_client.get_workflow_handle(
                handle.id, run_id=handle.first_execution_run_id
            )
            for name, run in (("agent-continue", first), ("agent-continued", latest(handle))):
                (HISTORIES / f"{name}.json").write_text((await run.fetch_history()).to_json())

    assert state == "completed", message
    turns = stubs.named("agent_turn")
    # each turn of each step once, in order
    assert [(c.arg.step_index, c.arg.turn_index) for c in turns] == [
        (step, turn) for step in (-1, 0, 1) for turn in range(14)
    ]
    runs = list(dict.fromkeys(c.run_id for c in turns))
    assert len(runs) >= 2, "the conversation never continued as new"
    # the state went to executing once; the worktree and the lock were never re-made
    assert stubs.states() == ["analyzing", "planning", "executing", "verifying", "completed"]
    assert len(stubs.named("open_workspace")) == 1 and len(stubs.named("acquire_lock")) == 1
    # the stored plan, read again per run that starts after the declaring turns
    plan_runs = {c.run_id for c in turns if c.arg.step_index >= 0}
    assert len(stubs.named("plan")) == len(plan_runs)
    assert [c.arg.step_index for c in stubs.named("apply_step")] == [0, 1]
    assert stubs.named("generate_step") == []
    stamps = {c.arg.commit_timestamp - c.arg.step_index for c in turns}
    assert len(stamps) == 1  # anchored at the first run's start


@pytest.mark.parametrize("approved", [True, False])
async def test_the_approval_gate_waits_on_the_declared_task_list_before_any_task_turn(
    temporal_client: Client,
    stubs: Stubs,  # noqa: F811
    queue: str,  # noqa: F811
    approved: bool,
) -> None:
    stubs.agent_turns = 2
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(
            temporal_client, queue, engine="agent", constraints={"require_plan_approval": True}
        )
        await until(lambda: "plan.approval_requested" in stubs.events())
        # waiting: the declaring turns ran, then the plan; no task turn, nothing applied
        assert [(c.arg.step_index, c.arg.turn_index) for c in stubs.named("agent_turn")] == [
            (-1, 0),
            (-1, 1),
        ]
        assert [c.name for c in stubs.calls if c.name in ("agent_turn", "plan")][-1] == "plan"
        assert stubs.named("apply_step") == []
        decision = PlanDecision(approved=approved, by="ops", reason=None if approved else "no")
        await handle.execute_update("approve_plan", decision)
        state, _, message = await ending(handle)

    turns = [(c.arg.step_index, c.arg.turn_index) for c in stubs.named("agent_turn")]
    if approved:
        assert state == "completed", message
        assert turns == [(-1, 0), (-1, 1), (0, 0), (0, 1), (1, 0), (1, 1)]
        assert [c.arg.step_index for c in stubs.named("apply_step")] == [0, 1]
        assert len(stubs.named("push")) == 1
    else:
        assert state == "cancelled"
        assert turns == [(-1, 0), (-1, 1)]  # no task turn ran
        assert stubs.named("apply_step") == [] and stubs.named("push") == []
        assert "plan.rejected" in stubs.events()

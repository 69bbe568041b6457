"""FeatureExecutionWorkflow alone: every activity stubbed (tests/integration/workflow/stubs.py),
real Temporal dev server, the production worker's sandbox runner, a fresh task queue per test.

Each test that records a path's history writes it to tests/histories/ when
BUILDER_RECORD_HISTORIES=1; the replay tests replay those with the production runner.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from activities.codegen.llm import ModelCallFailed
from activities.runtime import application_error
from domain.contracts import (
    AdmissionResult,
    AnalysisResult,
    CancelRequest,
    FeatureExecutionOutput,
    LockResult,
    PhaseTimeouts,
    PlanDecision,
    PlanResult,
    StepResult,
    WorkspaceResult,
)
from domain.enums import StepType
from domain.errors import GenerationFailed
from domain.values import ExecutionPlan, PlanStep
from tests.integration.workflow.stubs import (
    FAST,
    Stubs,
    blocked,
    commit_of,
    start,
    stubbed_workers,
)

HISTORIES = Path(__file__).resolve().parents[2] / "histories"


@pytest.fixture
def queue() -> str:
    return f"alone-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stubs(queue: str) -> Stubs:
    return Stubs(worktree_queue=f"{queue}@worker")


async def ending(
    handle: WorkflowHandle[Any, FeatureExecutionOutput], within: float = 60
) -> tuple[str, str, str]:
    """(state, error code, message) the run ended with."""
    try:
        out = await asyncio.wait_for(handle.result(), within)
    except WorkflowFailureError as failed:
        cause = failed.cause
        assert isinstance(cause, ApplicationError), cause
        return "failed", cause.type or "", cause.message
    error = out.error
    return out.state, error.code.value if error else "", error.message if error else ""


async def record(client: Client, name: str, handle: WorkflowHandle[Any, Any]) -> None:
    if os.environ.get("BUILDER_RECORD_HISTORIES") == "1":
        latest = client.get_workflow_handle(handle.id)
        (HISTORIES / f"{name}.json").write_text((await latest.fetch_history()).to_json())


async def until(predicate: Any, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.05)


async def test_spec_run_goes_through_every_state_and_pushes_the_commit_it_verified(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        state, _, _ = await ending(handle)
        await record(temporal_client, "spec", handle)

    assert state == "completed"
    assert stubs.states() == ["analyzing", "planning", "executing", "verifying", "completed"]
    assert [c.arg.step_index for c in stubs.named("apply_step")] == [0, 1]
    # the declared steps go in one activity, each committed at its own timestamp
    (declared,) = stubs.named("apply_steps")
    assert declared.arg.step_indices == [0, 1]
    assert [s.commit_sha for s in declared.result.steps] == [commit_of(0), commit_of(1)]
    assert stubs.named("generate_step") == []  # the spec engine generates inside apply
    (push,) = stubs.named("push")
    assert push.arg.verified_commit == commit_of(1)
    assert push.arg.fencing_token == 7
    # worktree work ran on the worker holding the worktree, bookkeeping on the shared queue
    assert {c.name for c in stubs.calls} >= {"cleanup", "release_lock"}


async def test_with_nothing_to_verify_the_phases_are_recorded_skipped_without_verify(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    stubs.on("analyze", lambda ref, attempt: _nothing_to_verify(ref))
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        state, _, _ = await ending(handle)
        await record(temporal_client, "skip-verify", handle)

    assert state == "completed"
    assert stubs.named("verify") == []
    assert stubs.states() == ["analyzing", "planning", "executing", "verifying", "completed"]
    verifying = next(c for c in stubs.changes() if c.state.label == "verifying")
    assert [(e.event_type, e.payload["phase"]) for e in verifying.events] == [
        ("build.completed", "build"),
        ("test.completed", "test"),
    ]
    assert all(e.payload["skipped"] and e.payload["passed"] for e in verifying.events)
    assert len({e.event_id for e in verifying.events} | {verifying.event_id}) == 3
    (push,) = stubs.named("push")
    assert push.arg.verified_commit is None  # nothing ran, so no commit was verified
    # no other state change carries events
    assert all(not c.events for c in stubs.changes() if c is not verifying)


async def test_a_declared_step_that_fails_fails_the_run_at_that_step_and_nothing_is_pushed(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    stubs.steps = 3

    async def second_fails(inp: Any, _attempt: int) -> StepResult:
        if inp.step_index == 1:
            raise application_error(GenerationFailed("replace_text: gone.txt does not exist"))
        return StepResult(step_index=inp.step_index, commit_sha=commit_of(inp.step_index))

    stubs.on("apply_step", second_fails)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), 60)

    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "generation_failed"
    assert cause.details[0]["failed_step"] == 1  # not the batch's first step
    assert [c.arg.step_index for c in stubs.named("apply_step")] == [0, 1]  # not retried
    assert stubs.named("push") == [] and stubs.states()[-1] == "failed"


async def test_a_worker_from_before_apply_steps_applies_the_declared_steps_one_each(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    stubs.steps = 3
    stubs.unregistered = {"apply_steps"}  # the SDK answers NotFoundError, never retried
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        state, _, _ = await ending(handle)

    assert state == "completed"
    assert [c.arg.step_index for c in stubs.named("apply_step")] == [0, 1, 2]
    assert stubs.named("push")
    history = await handle.fetch_history()
    batches = [
        e for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == "apply_steps"
    ]  # fmt: skip
    assert len(batches) == 1  # tried once, then one activity per step
    (failed,) = [
        e.activity_task_started_event_attributes for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id == batches[0].event_id
    ]  # fmt: skip
    assert failed.attempt == 1


async def _nothing_to_verify(ref: Any) -> Any:
    from domain.contracts import AnalysisResult, PhaseTimeouts

    timeouts = PhaseTimeouts(setup_s=5, build_s=5, test_s=5)
    return AnalysisResult(
        phase_timeouts=timeouts, verify_needed=False, state_recorded=ref.state is not None
    )


async def test_failed_tests_with_the_llm_engine_become_a_repair_step_and_another_round(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    stubs.on("verify", lambda inp, attempt: _verify_or_fail(stubs, inp))
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue, engine="llm")
        state, _, _ = await ending(handle)
        await record(temporal_client, "llm-repair", handle)

    assert state == "completed"
    (repair,) = stubs.named("add_repair_step")
    assert repair.arg.step_index == 2 and repair.arg.failed_phase == "test"
    assert repair.arg.failure_code == "test_failed"
    assert [c.arg.step_index for c in stubs.named("generate_step")] == [0, 1, 2]
    assert [c.arg.step_index for c in stubs.named("apply_step")] == [0, 1, 2]
    assert stubs.states() == [
        "analyzing", "planning", "executing", "verifying", "executing", "verifying", "completed",
    ]  # fmt: skip
    assert stubs.named("push")[0].arg.verified_commit == commit_of(2)


async def _verify_or_fail(stubs: Stubs, inp: Any) -> Any:
    from domain.contracts import VerifyResult

    if inp.phase == "test" and not stubs.named("add_repair_step"):
        raise ApplicationError(
            "1 of 3 tests failed", {"phase": "test"}, type="test_failed", non_retryable=True
        )
    head = commit_of(max(c.arg.step_index for c in stubs.named("apply_step")))
    return VerifyResult(phase=inp.phase, skipped=False, passed=True, commit_sha=head)


async def test_a_retried_repair_asks_for_the_same_step_again(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def flaky_repair(inp: Any, attempt: int) -> Any:
        if attempt == 1:
            raise RuntimeError("worker lost its database connection after storing the step")
        from domain.contracts import RepairResult

        return RepairResult(step_index=inp.step_index, description="repair")

    stubs.on("verify", lambda inp, attempt: _verify_or_fail(stubs, inp))
    stubs.on("add_repair_step", flaky_repair)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, _, _ = await ending(await start(temporal_client, queue, engine="llm"))

    assert state == "completed"
    attempts = stubs.named("add_repair_step")
    assert [c.attempt for c in attempts] == [1, 2]
    assert {c.arg.step_index for c in attempts} == {2}


async def test_a_worker_that_is_gone_gets_its_worktree_rebuilt_elsewhere(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    opened: list[str] = []

    async def open_workspace(ref: Any, attempt: int) -> Any:
        # the first worker to hold the worktree dies at once (nobody polls its queue)
        where = f"{queue}@gone" if not opened else stubs.worktree_queue
        opened.append(where)
        return WorkspaceResult(task_queue=where, base_commit="b" * 40, feature_branch="f")

    stubs.on("open_workspace", open_workspace)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        state, _, _ = await ending(handle)
        await record(temporal_client, "worker-move", handle)

    assert state == "completed"
    assert opened == [f"{queue}@gone", stubs.worktree_queue]
    assert stubs.named("analyze")  # ran on the new worker


async def test_a_long_lock_wait_continues_as_new_with_the_same_owner_and_then_runs(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def busy_lock(inp: Any, attempt: int) -> Any:
        if len(stubs.named("acquire_lock")) < 40:
            return LockResult(acquired=False, lock_key="k", holder_execution_id="other")
        return LockResult(acquired=True, fencing_token=9, lock_key="k")

    stubs.on("acquire_lock", busy_lock)
    timings = FAST.model_copy(update={"lock_retry_every_s": 0.05, "history_events_limit": 60})
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue, wait_for_lock=True, timings=timings)
        state, _, _ = await ending(handle)
        await record(temporal_client, "lock-wait", handle)

    assert state == "completed"
    acquires = stubs.named("acquire_lock")
    assert len({c.run_id for c in acquires}) >= 2, "the wait never continued as new"
    assert len({c.arg.owner_id for c in acquires}) == 1
    # the state went to analyzing once, not once per run
    assert stubs.states() == ["analyzing", "planning", "executing", "verifying", "completed"]
    assert stubs.named("push")[0].arg.fencing_token == 9


async def test_a_long_approval_wait_continues_as_new_and_takes_the_decision_afterwards(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    timings = FAST.model_copy(update={"lock_refresh_every_s": 0.05, "history_events_limit": 60})
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(
            temporal_client, queue, constraints={"require_plan_approval": True}, timings=timings
        )
        await until(lambda: len({c.run_id for c in stubs.named("refresh_lock")}) >= 2)
        latest = temporal_client.get_workflow_handle(handle.id)
        await latest.execute_update("approve_plan", PlanDecision(approved=True, by="ops"))
        state, _, _ = await ending(handle)
        await record(temporal_client, "approval", handle)

    assert state == "completed"
    assert stubs.events().count("plan.approval_requested") == 1
    assert stubs.events().count("plan.approved") == 1
    assert stubs.states() == ["analyzing", "planning", "executing", "verifying", "completed"]
    assert len(stubs.named("open_workspace")) == 1 and len(stubs.named("acquire_lock")) == 1
    # commit timestamps are anchored at the first run's start, whatever run commits
    stamps = {c.arg.commit_timestamp - c.arg.step_index for c in stubs.named("apply_step")}
    assert len(stamps) == 1
    assert len({c.arg.owner_id for c in stubs.named("refresh_lock")}) == 1


async def test_the_approval_deadline_and_the_run_timeout_both_end_the_run_failed(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    stubs.on("verify", blocked)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        waiting = await start(
            temporal_client,
            queue,
            constraints={"require_plan_approval": True, "plan_approval_timeout_minutes": 1},
        )
        slow = await start(temporal_client, queue, constraints={"timeout_minutes": 1})
        unapproved, timed_out = await asyncio.gather(
            ending(waiting, within=150), ending(slow, within=150)
        )
        await record(temporal_client, "timeout", slow)

    assert unapproved[:2] == ("failed", "timeout")
    assert "not approved within 1 minutes" in unapproved[2]
    assert timed_out[:2] == ("failed", "timeout")
    assert "exceeded its timeout of 1 minutes" in timed_out[2]
    assert "verify" in stubs.cancelled
    assert len(stubs.named("cleanup")) == 2 and len(stubs.named("release_lock")) == 2
    assert stubs.named("push") == []


async def test_a_lost_lease_stops_the_run_at_once_and_nothing_is_pushed(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def lost(inp: Any, attempt: int) -> Any:
        return LockResult(acquired=False, lock_key="k")

    stubs.on("verify", blocked)
    stubs.on("refresh_lock", lost)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, code, message = await ending(await start(temporal_client, queue))

    assert (state, code) == ("failed", "internal")
    assert "lost the lock k" in message and "stopped before pushing" in message
    assert "verify" in stubs.cancelled
    assert stubs.named("push") == []
    assert stubs.named("cleanup") and stubs.named("release_lock")


async def test_a_refresh_that_keeps_failing_stops_the_run_after_the_grace_period(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def unreachable(inp: Any, attempt: int) -> Any:
        raise RuntimeError("connection refused")

    stubs.on("verify", blocked)
    stubs.on("refresh_lock", unreachable)
    timings = FAST.model_copy(update={"lock_refresh_grace_s": 1.5})
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, code, message = await ending(await start(temporal_client, queue, timings=timings))

    assert (state, code) == ("failed", "internal")
    assert "could not be refreshed" in message
    assert len(stubs.named("refresh_lock")) > 1  # retried within the grace period first
    assert stubs.named("push") == []


@pytest.mark.parametrize("phase", ["analyze", "plan", "approval", "apply_step", "verify"])
async def test_cancel_in_each_phase_ends_cancelled_with_cleanup_and_nothing_pushed(
    temporal_client: Client, stubs: Stubs, queue: str, phase: str
) -> None:
    constraints = {"require_plan_approval": phase == "approval"}
    if phase != "approval":
        stubs.on(phase, blocked)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue, constraints=constraints)
        if phase == "approval":
            await until(lambda: "plan.approval_requested" in stubs.events())
        else:
            await until(lambda: bool(stubs.named(phase)))
        await handle.signal("cancel", CancelRequest(reason="not needed"))
        state, code, message = await ending(handle)
        if phase == "verify":
            await record(temporal_client, "cancel", handle)

    assert (state, code, message) == ("cancelled", "cancelled", "not needed")
    if phase != "approval":
        assert phase in stubs.cancelled
    assert stubs.states()[-1] == "cancelled"
    assert stubs.named("release_lock") and stubs.named("push") == []
    # the worktree was open in every phase: its partial work is kept and it is given up
    assert stubs.named("cleanup") and not stubs.named("cleanup")[0].arg.keep_warm


async def test_a_rate_limited_model_call_is_retried_after_the_servers_delay(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def rate_limited(inp: Any, attempt: int) -> Any:
        if attempt < 3:
            # what the real activity raises for a 429 with Retry-After: 1.5
            raise application_error(
                ModelCallFailed(
                    "HTTP 429: slow down", details={"status": 429}, retry_after_seconds=1.5
                )
            )
        from domain.contracts import StepResult

        return StepResult(step_index=inp.step_index)

    stubs.on("generate_step", rate_limited)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, _, _ = await ending(await start(temporal_client, queue, engine="llm"))

    assert state == "completed"
    first = [c for c in stubs.named("generate_step") if c.arg.step_index == 0]
    assert [c.attempt for c in first] == [1, 2, 3]


async def test_bookkeeping_that_keeps_failing_fails_the_run_instead_of_retrying_forever(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def broken(inp: Any, attempt: int) -> Any:
        if inp.state.label == "verifying":
            raise TypeError("a bug in record_state")
        return None

    stubs.on("record_state", broken)
    timings = FAST.model_copy(update={"bookkeeping_give_up_s": 2})
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, code, _ = await ending(await start(temporal_client, queue, timings=timings))

    assert (state, code) == ("failed", "internal")
    assert len([c for c in stubs.named("record_state") if c.arg.state.label == "verifying"]) > 1
    assert stubs.states()[-1] == "failed"


async def test_a_worker_that_ignores_a_carried_state_change_gets_it_recorded_by_the_workflow(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    # an activity worker older than the patch decodes the request without `state` and
    # returns results without `state_recorded`: the workflow records each change itself
    def old_worker(name: str, result: Any) -> None:
        async def handler(inp: Any, attempt: int) -> Any:
            return result(inp)

        stubs.on(name, handler)

    timeouts = PhaseTimeouts(setup_s=5, build_s=5, test_s=5)
    plan = ExecutionPlan(steps=[PlanStep(index=0, description="s", type=StepType.MODIFY_FILE)])
    old_worker("admit", lambda inp: AdmissionResult(admitted=True))
    old_worker("analyze", lambda inp: AnalysisResult(phase_timeouts=timeouts))
    old_worker("plan", lambda inp: PlanResult(plan=plan))
    old_worker("release_lock", lambda inp: LockResult(acquired=False, lock_key="k"))
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, _, _ = await ending(await start(temporal_client, queue))

    assert state == "completed"
    by_workflow = [c.arg.state.label for c in stubs.named("record_state")]
    assert by_workflow == ["analyzing", "planning", "executing", "verifying", "completed"]
    assert stubs.states() == by_workflow  # each change recorded once

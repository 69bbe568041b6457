"""Plan approval through the `approve_plan` update, and the lock on a feature branch."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError

from domain.contracts import CancelRequest, PlanDecision
from persistence.uow import UnitOfWork

WRITE = [{"op": "write_file", "path": "notes/a.txt", "content": "hello\n"}]


async def _wait_for_event(sessions, execution_id, event_type: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with UnitOfWork(sessions) as uow:
            events = await uow.events.read_after(execution_id, 0, 1000)
        if any(e.event_type == event_type for e in events):
            return
        assert loop.time() < deadline, f"no {event_type} event"
        await asyncio.sleep(0.2)


async def test_execution_waits_for_plan_approval_then_completes(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote))
    execution_id, handle = await harness.start(
        tenant, repo_id, WRITE, constraints={"require_plan_approval": True}
    )
    await _wait_for_event(sessions, execution_id, "plan.approval_requested")
    plan = await handle.query("plan")
    assert plan["steps"][0]["target_files"] == ["notes/a.txt"]
    verdict = await handle.execute_update(
        "approve_plan", PlanDecision(approved=True, by="reviewer"), result_type=str
    )
    assert verdict == "approved"
    outcome = await handle.result()
    assert outcome.state == "completed"


async def test_rejected_plan_ends_cancelled_without_touching_the_remote(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote))
    execution_id, handle = await harness.start(
        tenant, repo_id, WRITE, constraints={"require_plan_approval": True}
    )
    await _wait_for_event(sessions, execution_id, "plan.approval_requested")
    await handle.execute_update(
        "approve_plan", PlanDecision(approved=False, reason="too broad", by="reviewer")
    )
    outcome = await handle.result()
    assert outcome.state == "cancelled"
    assert outcome.error.message == "plan rejected: too broad"
    heads = subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref", "refs/heads"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert heads.count("refs/heads/") == 1


async def test_second_execution_on_a_locked_branch_fails_clearly(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "sleep 30"})
    first_id, first = await harness.start(tenant, repo_id, WRITE)
    await _wait_for_event(sessions, first_id, "lock.acquired")
    async with UnitOfWork(sessions) as uow:
        branch = (await uow.executions.get(tenant, first_id)).feature_branch
    second_id, second = await harness.start(tenant, repo_id, WRITE, feature_branch=branch)

    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(second.result(), 30)
    assert failure.value.cause.type == "invalid_input"
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, second_id)
    assert row.state == 7
    assert str(first_id) in row.error["message"]
    assert "holds the lock" in row.error["message"]
    # the validator refuses a decision nobody asked for, and the run goes on untouched
    with pytest.raises(WorkflowUpdateFailedError):
        await first.execute_update("approve_plan", PlanDecision(approved=True))
    await first.cancel()


async def test_cancel_while_waiting_for_plan_approval_ends_cancelled(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote))
    execution_id, handle = await harness.start(
        tenant, repo_id, WRITE, constraints={"require_plan_approval": True}
    )
    await _wait_for_event(sessions, execution_id, "plan.approval_requested")
    await handle.signal("cancel", CancelRequest(reason="not now"))
    outcome = await handle.result()
    assert outcome.state == "cancelled" and outcome.error.message == "not now"
    async with UnitOfWork(sessions) as uow:
        events = await uow.events.read_after(execution_id, 0, 1000)
    states = [e.payload["to"] for e in events if e.event_type == "execution.state_changed"]
    assert states == ["analyzing", "planning", "cancelled"]


async def test_cancel_before_any_worker_picks_the_run_up_ends_cancelled_at_once(
    harness, bare_remote, sessions, database_url, temporal_server, tmp_path
) -> None:
    from builder.worker import run_worker
    from tests.integration.workflow.conftest import worker_settings

    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote))
    execution_id, handle = await harness.start(tenant, repo_id, WRITE)
    await handle.signal("cancel", CancelRequest(reason="queued by mistake"))
    settings = worker_settings(
        database_url, temporal_server, tmp_path / "state", task_queue=harness.task_queue
    )
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        outcome = await asyncio.wait_for(handle.result(), 60)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    assert outcome.state == "cancelled"
    async with UnitOfWork(sessions) as uow:
        events = await uow.events.read_after(execution_id, 0, 1000)
    assert [e.event_type for e in events] == ["execution.state_changed", "execution.cancelled"]


async def test_waiting_execution_takes_the_lock_after_release_and_never_clobbers_the_branch(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "sleep 3"})
    first_id, first = await harness.start(tenant, repo_id, WRITE)
    await _wait_for_event(sessions, first_id, "lock.acquired")
    async with UnitOfWork(sessions) as uow:
        branch = (await uow.executions.get(tenant, first_id)).feature_branch
    second_id, second = await harness.start(
        tenant,
        repo_id,
        [{"op": "write_file", "path": "notes/b.txt", "content": "b\n"}],
        feature_branch=branch,
        wait_for_lock=True,
    )
    assert (await asyncio.wait_for(first.result(), 60)).state == "completed"
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(second.result(), 60)
    # it waited, then built from the target branch; the remote branch now holds the first
    # execution's commit, which the second did not make, so it refuses to push over it
    assert failure.value.cause.type == "push_failed"
    async with UnitOfWork(sessions) as uow:
        first_row = await uow.executions.get(tenant, first_id)
        first_events = await uow.events.read_after(first_id, 0, 1000)
        second_events = await uow.events.read_after(second_id, 0, 1000)
    released = next(e.timestamp for e in first_events if e.event_type == "lock.released")
    acquired = next(e.timestamp for e in second_events if e.event_type == "lock.acquired")
    assert acquired >= released
    head = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", f"refs/heads/{branch}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert head == first_row.result["commit_sha"]

"""State changes carried by the activity they follow (analyze -> planning, plan -> executing,
release_lock -> the final state): recorded in that activity's transaction, with the events
in the order record_state would have given them, repeatable on a retry, and all or nothing
with the activity's own writes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.pipeline import FeaturePipeline
from domain.contracts import (
    ExecutionRef,
    LockRequest,
    PhaseRequest,
    RecordStateInput,
)
from domain.enums import FeatureState
from domain.events import EventType
from persistence.events import read_after
from persistence.tables import DistributedLockRow, FeatureExecutionRow
from tests.fixtures.executions import Harness
from tests.integration.activities.conftest import Run

CHANGES = [{"op": "write_file", "path": "new.txt", "content": "x\n"}]


def change(
    ref: ExecutionRef, state: FeatureState, cause: str | None, **extra: Any
) -> RecordStateInput:
    return RecordStateInput(
        ref=ref, state=state, event_id=str(uuid.uuid4()), causation_id=cause, **extra
    )


async def _started(
    harness: Harness, pipeline: FeaturePipeline, remote: Path
) -> tuple[Run, RecordStateInput]:
    tenant = uuid.uuid4()
    repo = await harness.repository(tenant, str(remote))
    row = await harness.execution(tenant, repo, CHANGES)
    ref = ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant))
    run = Run(pipeline, ref, ActivityEnvironment())
    analyzing = change(ref, FeatureState.ANALYZING, None)
    await run("record_state", analyzing)
    await run("open_workspace")
    return run, analyzing


async def _state_and_events(
    sessions: async_sessionmaker[AsyncSession], run: Run
) -> tuple[FeatureExecutionRow, list[Any]]:
    eid = uuid.UUID(run.ref.execution_id)
    async with sessions() as session:
        row = (
            await session.scalars(select(FeatureExecutionRow).where(FeatureExecutionRow.id == eid))
        ).one()
        return row, list(await read_after(session, eid, 0, 100))


async def test_analyze_and_plan_record_the_next_state_with_their_results(
    harness: Harness,
    pipeline: FeaturePipeline,
    sessions: async_sessionmaker[AsyncSession],
    bare_remote: Callable[..., Path],
) -> None:
    run, analyzing = await _started(harness, pipeline, bare_remote(files=3))
    planning = change(run.ref, FeatureState.PLANNING, analyzing.event_id)
    await run("analyze", PhaseRequest.of(run.ref, planning))
    row, events = await _state_and_events(sessions, run)
    assert FeatureState(row.state) == FeatureState.PLANNING
    kinds = [e.event_type for e in events]
    assert kinds[-2:] == [EventType.ANALYSIS_COMPLETED, EventType.STATE_CHANGED]
    moved = events[-1]
    assert str(moved.id) == planning.event_id
    assert str(moved.causation_id) == analyzing.event_id
    assert moved.payload == {"from": "analyzing", "to": "planning"}

    executing = change(run.ref, FeatureState.EXECUTING, planning.event_id)
    result = await run("plan", PhaseRequest.of(run.ref, executing))
    row, events = await _state_and_events(sessions, run)
    assert FeatureState(row.state) == FeatureState.EXECUTING
    assert [e.event_type for e in events][-2:] == [EventType.PLAN_CREATED, EventType.STATE_CHANGED]
    # the progress the workflow shows once it has the plan: its steps, none done
    assert row.progress["total_steps"] == len(result.plan.steps) == 1
    assert row.progress["completed_steps"] == 0

    # a retry (the plan is stored): the same plan, nothing appended twice
    again = await run("plan", PhaseRequest.of(run.ref, executing))
    assert again.plan == result.plan
    _, after = await _state_and_events(sessions, run)
    assert [e.id for e in after] == [e.id for e in events]


async def test_a_change_the_state_machine_refuses_stores_none_of_the_activitys_writes(
    harness: Harness,
    pipeline: FeaturePipeline,
    sessions: async_sessionmaker[AsyncSession],
    bare_remote: Callable[..., Path],
) -> None:
    run, analyzing = await _started(harness, pipeline, bare_remote(files=3))
    _, before = await _state_and_events(sessions, run)
    completed = change(run.ref, FeatureState.COMPLETED, analyzing.event_id)  # not from analyzing
    with pytest.raises(ApplicationError) as refused:
        await run("analyze", PhaseRequest.of(run.ref, completed))
    assert refused.value.type == "internal" and "cannot move" in refused.value.message
    row, after = await _state_and_events(sessions, run)
    assert FeatureState(row.state) == FeatureState.ANALYZING
    assert [e.id for e in after] == [e.id for e in before]  # no analysis.completed


async def test_releasing_the_lock_records_the_final_state_in_the_same_transaction(
    harness: Harness,
    pipeline: FeaturePipeline,
    sessions: async_sessionmaker[AsyncSession],
    bare_remote: Callable[..., Path],
) -> None:
    run, analyzing = await _started(harness, pipeline, bare_remote(files=3))
    owner = "wf/run"
    lock = await run("acquire_lock", LockRequest(ref=run.ref, owner_id=owner))
    assert lock.acquired
    failed = change(run.ref, FeatureState.FAILED, analyzing.event_id, reason="stopped")
    request = LockRequest(
        ref=run.ref, owner_id=owner, fencing_token=lock.fencing_token, state=failed
    )
    await run("release_lock", request)
    await run("release_lock", request)  # a retry: nothing twice
    row, events = await _state_and_events(sessions, run)
    assert FeatureState(row.state) == FeatureState.FAILED and row.completed_at is not None
    kinds = [e.event_type for e in events]
    assert kinds[-3:] == [
        EventType.LOCK_RELEASED, EventType.STATE_CHANGED, EventType.EXECUTION_FAILED,
    ]  # fmt: skip
    assert kinds.count(EventType.LOCK_RELEASED) == 1
    async with sessions() as session:
        held = await session.scalar(
            select(DistributedLockRow).where(DistributedLockRow.lock_key == lock.lock_key)
        )
    assert held is None


def test_a_bare_execution_ref_decodes_as_a_phase_request_without_a_state() -> None:
    # what a run that started before the change sends to analyze and plan
    old = ExecutionRef(execution_id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()))
    decoded = PhaseRequest.model_validate_json(old.model_dump_json())
    assert decoded.state is None and decoded.execution_id == old.execution_id

"""Steps and file changes upsert on their natural keys, so retried activities never duplicate."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.edits import DeleteEdit, WriteEdit
from domain.enums import ChangeType, StepState, StepType
from domain.errors import NotFound
from domain.values import ExecutionPlan, FileChangeStat, PlanStep, StepError
from persistence.repositories import stored_edits
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_execution

PLAN = ExecutionPlan(
    steps=[
        PlanStep(
            index=i, description=f"step {i}", type=StepType.MODIFY_FILE, target_files=[f"f{i}"]
        )
        for i in (2, 0, 1)
    ]
)


async def test_writing_the_plan_twice_keeps_one_row_per_step_in_index_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ex = await committed_execution(sessions)
    async with UnitOfWork(sessions) as uow:
        first = await uow.steps.upsert_plan(ex.tenant_id, ex.id, PLAN)
        await uow.steps.update_state(ex.tenant_id, first[0].id, StepState.COMPLETED)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        again = await uow.steps.upsert_plan(ex.tenant_id, ex.id, PLAN)
        await uow.commit()
    assert [s.step_index for s in first] == [0, 1, 2]
    assert [s.id for s in again] == [s.id for s in first]
    async with UnitOfWork(sessions) as uow:
        stored = await uow.steps.get_by_feature_id(ex.tenant_id, ex.id)
    assert [(s.step_index, s.description, s.target_files) for s in stored] == [
        (0, "step 0", ["f0"]),
        (1, "step 1", ["f1"]),
        (2, "step 2", ["f2"]),
    ]
    # a rewrite never resets progress already made
    assert stored[0].state == StepState.COMPLETED


async def test_step_lifecycle_counts_attempts_and_keeps_edits_and_commit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ex = await committed_execution(sessions)
    edits = [WriteEdit(path="a.py", content="print(1)\n"), DeleteEdit(path="old.py")]
    async with UnitOfWork(sessions) as uow:
        t = ex.tenant_id
        step = await uow.steps.upsert(t, ex.id, PLAN.steps[1])
        running = await uow.steps.update_state(t, step.id, StepState.RUNNING)
        assert running.attempt_count == 1 and running.started_at is not None
        await uow.steps.record_edits(
            t, step.id, edits, commit_message="step 0: add a", commit_timestamp=1_700_000_000
        )
        await uow.steps.update_state(
            t,
            step.id,
            StepState.FAILED,
            error=StepError(code="apply", message="conflict", phase="apply"),
        )
        retried = await uow.steps.update_state(t, step.id, StepState.RUNNING, error=None)
        assert retried.attempt_count == 2 and retried.error is None
        assert retried.started_at == running.started_at and retried.completed_at is None
        await uow.steps.record_commit(t, step.id, "c" * 40, lines_added=1, lines_removed=4)
        done = await uow.steps.update_state(t, step.id, StepState.COMPLETED)
        await uow.commit()
    assert done.completed_at is not None
    async with UnitOfWork(sessions) as uow:
        stored = await uow.steps.get_by_index(ex.tenant_id, ex.id, 0)
    assert stored_edits(stored) == edits
    assert (stored.commit_message, stored.commit_timestamp) == ("step 0: add a", 1_700_000_000)
    assert (stored.commit_sha, stored.lines_added, stored.lines_removed) == ("c" * 40, 1, 4)


async def test_recording_the_same_file_changes_again_overwrites_in_place(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ex = await committed_execution(sessions)
    artifact = uuid.uuid4()
    changes = [
        FileChangeStat(file_path="b.py", change_type=ChangeType.MODIFIED, lines_added=2),
        FileChangeStat(file_path="a.py", change_type=ChangeType.CREATED, new_hash="h1", patch="+x"),
    ]
    async with UnitOfWork(sessions) as uow:
        steps = await uow.steps.upsert_plan(ex.tenant_id, ex.id, PLAN)
        first = await uow.file_changes.record(
            ex.tenant_id, steps[1].id, changes, patch_artifact_ids={"a.py": artifact}
        )
        await uow.file_changes.upsert(
            ex.tenant_id,
            steps[0].id,
            FileChangeStat(file_path="z.py", change_type=ChangeType.DELETED),
        )
        await uow.commit()
    retried = [changes[0].model_copy(update={"lines_added": 5}), changes[1]]
    async with UnitOfWork(sessions) as uow:
        again = await uow.file_changes.record(ex.tenant_id, steps[1].id, retried)
        await uow.commit()
    assert [c.id for c in again] == [c.id for c in first]
    async with UnitOfWork(sessions) as uow:
        by_step = await uow.file_changes.list_by_step(ex.tenant_id, steps[1].id)
        by_execution = await uow.file_changes.list_by_execution(ex.tenant_id, ex.id)
    assert [(c.file_path, c.lines_added) for c in by_step] == [("a.py", 0), ("b.py", 5)]
    # an artifact id recorded once is not lost by a retry that does not know it
    assert by_step[0].patch_artifact_id == artifact and by_step[0].patch_content == "+x"
    assert [c.file_path for c in by_execution] == ["z.py", "a.py", "b.py"]
    assert all(c.feature_execution_id == ex.id for c in by_execution)


async def test_listing_steps_and_changes_is_a_constant_number_of_queries(
    sessions: async_sessionmaker[AsyncSession], db_engine: AsyncEngine
) -> None:
    ex = await committed_execution(sessions)
    many = ExecutionPlan(
        steps=[PlanStep(index=i, description="s", type=StepType.TEST) for i in range(20)]
    )
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    async with UnitOfWork(sessions) as uow:
        event.listen(db_engine.sync_engine, "before_cursor_execute", count)
        try:
            steps = await uow.steps.upsert_plan(ex.tenant_id, ex.id, many)
            await uow.file_changes.record(
                ex.tenant_id,
                steps[0].id,
                [
                    FileChangeStat(file_path=f"f{i}", change_type=ChangeType.CREATED)
                    for i in range(20)
                ],
            )
            listed = await uow.steps.get_by_feature_id(ex.tenant_id, ex.id)
            await uow.file_changes.list_by_execution(ex.tenant_id, ex.id)
        finally:
            event.remove(db_engine.sync_engine, "before_cursor_execute", count)
    assert len(listed) == 20
    # plan: check + upsert; changes: resolve step + upsert; two listings
    assert len([s for s in statements if not s.startswith(("BEGIN", "SAVEPOINT"))]) <= 6


async def test_steps_of_an_unknown_execution_are_not_found(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ex = await committed_execution(sessions)
    missing = uuid.uuid4()
    async with UnitOfWork(sessions) as uow:
        assert await uow.steps.get_by_feature_id(ex.tenant_id, ex.id) == []
        with pytest.raises(NotFound, match=str(missing)):
            await uow.steps.get_by_feature_id(ex.tenant_id, missing)
        with pytest.raises(NotFound, match=str(missing)):
            await uow.steps.upsert_plan(ex.tenant_id, missing, PLAN)
        with pytest.raises(NotFound, match=f"step 7 of feature execution {ex.id}"):
            await uow.steps.get_by_index(ex.tenant_id, ex.id, 7)
        with pytest.raises(NotFound, match=str(missing)):
            await uow.file_changes.record(ex.tenant_id, missing, [])


def test_the_bulk_upserts_are_statements_sqlalchemy_can_cache() -> None:
    # a multi-VALUES insert has no cache key and is compiled on every call (a hot path:
    # every plan and every applied step); the rows go as parameters of these instead
    from persistence.artifacts.patches import _UPSERT_CHANGES
    from persistence.repositories.file_changes import _RECORD_CHANGES
    from persistence.repositories.steps import _UPSERT_STEPS

    for statement in (_UPSERT_STEPS, _RECORD_CHANGES, _UPSERT_CHANGES):
        assert statement._generate_cache_key() is not None

"""FeatureExecutionRepository: creation rules, lookups, the state machine and search."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import ErrorCode, FeatureState, StepType
from domain.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from domain.values import (
    DeliveryResult,
    ExecutionError,
    ExecutionPlan,
    ExecutionProgress,
    FeatureConstraints,
    PlanStep,
)
from persistence.repositories import FeatureSearchQuery
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import (
    committed_execution,
    committed_repository,
    new_tenant,
)

F = FeatureState


async def test_create_validates_every_seed_rule_and_the_constraints_at_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    repo = await committed_repository(sessions)
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(ValidationFailed) as failed:
            await uow.executions.create(
                repo.tenant_id,
                repo.id,
                title="",
                description="short",
                target_branch="",
                constraints=FeatureConstraints(max_steps=51, timeout_minutes=121),
            )
    assert [e.message for e in failed.value.errors] == [
        "title is required",
        "description must be at least 10 characters",
        "target_branch is required",
        "max_steps must be between 0 and 50",
        "timeout_minutes must be between 0 and 120",
    ]


async def test_create_starts_pending_with_constraints_stored_as_json(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    constraints = FeatureConstraints(max_steps=3, allowed_paths=["src/**"], require_tests=True)
    row = await committed_execution(sessions, constraints=constraints, engine="llm")
    assert row.state == F.PENDING and row.sequence_cursor == 0 and row.engine == "llm"
    assert FeatureConstraints.model_validate(row.constraints) == constraints


async def test_an_execution_on_another_tenants_or_a_deleted_repository_is_not_found(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    foreign = await committed_repository(sessions)
    deleted = await committed_repository(sessions)
    async with UnitOfWork(sessions) as uow:
        await uow.repositories.soft_delete(deleted.tenant_id, deleted.id)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        for tenant, repo in ((new_tenant(), foreign), (deleted.tenant_id, deleted)):
            with pytest.raises(NotFound, match=f"repository {repo.id} not found"):
                await uow.executions.create(
                    tenant, repo.id, title="t", description="long enough", target_branch="main"
                )


async def test_an_idempotency_key_is_unique_per_tenant_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    first = await committed_execution(sessions, idempotency_key="req-1")
    with pytest.raises(Conflict, match=f"'req-1' was already used by execution {first.id}") as c:
        await committed_execution(sessions, first.tenant_id, idempotency_key="req-1")
    assert c.value.details == {"existing_id": str(first.id)}
    other = await committed_execution(sessions, new_tenant(), idempotency_key="req-1")
    async with UnitOfWork(sessions) as uow:
        assert (
            await uow.executions.get_by_idempotency_key(first.tenant_id, "req-1")
        ).id == first.id
        assert (
            await uow.executions.get_by_idempotency_key(other.tenant_id, "req-1")
        ).id == other.id
        assert await uow.executions.find_by_idempotency_key(new_tenant(), "req-1") is None
        with pytest.raises(NotFound, match="idempotency key 'nope'"):
            await uow.executions.get_by_idempotency_key(first.tenant_id, "nope")


async def test_get_by_correlation_id_returns_the_newest_of_the_tenant(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    await committed_execution(sessions, tenant, correlation_id="trace-9")
    newest = await committed_execution(sessions, tenant, correlation_id="trace-9")
    async with UnitOfWork(sessions) as uow:
        assert (await uow.executions.get_by_correlation_id(tenant, "trace-9")).id == newest.id
        with pytest.raises(NotFound, match="correlation id 'trace-9'"):
            await uow.executions.get_by_correlation_id(new_tenant(), "trace-9")


async def test_state_changes_follow_the_state_machine_and_record_their_data(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = await committed_execution(sessions)
    plan = ExecutionPlan(steps=[PlanStep(index=0, description="add", type=StepType.CREATE_FILE)])
    result = DeliveryResult(
        branch_name="feature/x",
        commit_sha="a" * 40,
        commit_count=1,
        files_changed=1,
        lines_added=3,
        lines_removed=0,
    )
    async with UnitOfWork(sessions) as uow:
        t, e = row.tenant_id, row.id
        analyzing = await uow.executions.update_state(
            t, e, F.ANALYZING, base_commit="b" * 40, feature_branch="feature/x"
        )
        assert (analyzing.state, analyzing.base_commit) == (F.ANALYZING, "b" * 40)
        with pytest.raises(InvalidTransition, match="from analyzing to verifying"):
            await uow.executions.update_state(t, e, F.VERIFYING)
        await uow.executions.update_state(t, e, F.PLANNING, plan=plan)
        await uow.executions.update_state(
            t, e, F.EXECUTING, progress=ExecutionProgress.of(1, 0, 0, "add")
        )
        done = await uow.executions.update_state(t, e, F.COMPLETED, result=result)
        assert done.completed_at is not None
        with pytest.raises(InvalidTransition, match="from completed to failed"):
            await uow.executions.update_state(t, e, F.FAILED)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        stored = await uow.executions.get(row.tenant_id, row.id)
    assert stored.state == F.COMPLETED and stored.feature_branch == "feature/x"
    assert ExecutionPlan.model_validate(stored.plan) == plan
    assert DeliveryResult.model_validate(stored.result) == result
    assert stored.progress == ExecutionProgress.of(1, 0, 0, "add").model_dump(mode="json")


async def test_move_state_returns_the_state_it_left_in_one_statement(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = await committed_execution(sessions)
    t, e = row.tenant_id, row.id
    progress = ExecutionProgress.of(2, 1, 1, "edit")
    result = DeliveryResult(
        branch_name="feature/y", commit_sha="c" * 40, commit_count=1, files_changed=1,
        lines_added=1, lines_removed=0,
    )  # fmt: skip
    async with UnitOfWork(sessions) as uow:
        assert await uow.executions.move_state(t, e, F.ANALYZING) == F.PENDING
        # a retried transition finds it done: nothing written, the state itself returned
        assert await uow.executions.move_state(t, e, F.ANALYZING) == F.ANALYZING
        with pytest.raises(InvalidTransition, match="from analyzing to verifying"):
            await uow.executions.move_state(t, e, F.VERIFYING)
        assert await uow.executions.move_state(t, e, F.PLANNING) == F.ANALYZING
        left = await uow.executions.move_state(t, e, F.EXECUTING, progress=progress)
        assert left == F.PLANNING
        await uow.executions.move_state(t, e, F.VERIFYING)
        assert await uow.executions.move_state(t, e, F.COMPLETED, result=result) == F.VERIFYING
        with pytest.raises(NotFound):
            await uow.executions.move_state(new_tenant(), e, F.FAILED)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        stored = await uow.executions.get(t, e)
    assert stored.state == F.COMPLETED and stored.completed_at is not None
    assert stored.progress == progress.model_dump(mode="json")
    assert DeliveryResult.model_validate(stored.result) == result


async def test_move_state_clears_a_field_to_sql_null_and_sets_it_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # the statement is built once per shape of fields: a cleared field is SQL NULL (not the
    # JSON literal null), and the next move with a value for it uses another shape
    row = await committed_execution(sessions)
    t, e = row.tenant_id, row.id
    error = ExecutionError(code=ErrorCode.BUILD_FAILED, message="build failed")
    null_error = text("SELECT error IS NULL FROM feature_executions WHERE id = :id")
    async with UnitOfWork(sessions) as uow:
        await uow.executions.move_state(t, e, F.ANALYZING, error=error)
        assert await uow.session.scalar(null_error, {"id": e}) is False
        await uow.executions.move_state(t, e, F.PLANNING, error=None)
        assert await uow.session.scalar(null_error, {"id": e}) is True
        await uow.executions.move_state(t, e, F.FAILED, error=error)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        stored = await uow.executions.get(t, e)
    assert ExecutionError.model_validate(stored.error) == error
    assert stored.completed_at is not None


async def test_racing_moves_let_exactly_one_writer_win(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = await committed_execution(sessions)

    async def move(state: FeatureState) -> FeatureState | None:
        async with UnitOfWork(sessions) as uow:
            try:
                left = await uow.executions.move_state(row.tenant_id, row.id, state)
            except InvalidTransition:
                return None
            await uow.commit()
            return state if left != state else None

    outcomes = await asyncio.gather(move(F.CANCELLED), move(F.FAILED), move(F.CANCELLED))
    assert len([o for o in outcomes if o is not None]) == 1


async def test_racing_terminal_transitions_let_exactly_one_writer_win(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = await committed_execution(sessions)

    async def move(state: FeatureState) -> FeatureState | None:
        async with UnitOfWork(sessions) as uow:
            try:
                await uow.executions.update_state(row.tenant_id, row.id, state)
            except InvalidTransition:
                return None
            await uow.commit()
            return state

    outcomes = await asyncio.gather(move(F.CANCELLED), move(F.FAILED), move(F.CANCELLED))
    winners = {o for o in outcomes if o is not None}
    assert len(winners) == 1


async def test_error_can_be_recorded_and_cleared_to_sql_null(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = await committed_execution(sessions)
    error = ExecutionError(code=ErrorCode.BUILD_FAILED, message="make failed", failed_step=2)
    async with UnitOfWork(sessions) as uow:
        failed = await uow.executions.update(row.tenant_id, row.id, error=error)
        assert ExecutionError.model_validate(failed.error) == error
        await uow.executions.update(row.tenant_id, row.id, error=None, workflow_id="wf-1")
        await uow.commit()
    async with sessions() as session:
        is_null = await session.scalar(
            text("SELECT error IS NULL FROM feature_executions WHERE id = :id"), {"id": row.id}
        )
    assert is_null is True


async def test_search_filters_by_each_criterion_and_pages(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    repo_a = await committed_repository(sessions, tenant)
    repo_b = await committed_repository(sessions, tenant)
    rows = []
    for i in range(5):
        rows.append(
            await committed_execution(
                sessions,
                repository=repo_a if i % 2 == 0 else repo_b,
                title=f"Feature {i}" + (" 100%_done" if i == 3 else ""),
                description="Add the Payment webhook" if i == 1 else "Some plain description",
            )
        )
    # distinct, known creation times so the range filters are exact
    async with sessions() as session:
        for i, r in enumerate(rows):
            await session.execute(
                text("UPDATE feature_executions SET created_at = :c WHERE id = :id"),
                {"c": rows[0].created_at + timedelta(minutes=i), "id": r.id},
            )
        await session.commit()
    async with UnitOfWork(sessions) as uow:
        await uow.executions.update_state(tenant, rows[2].id, F.ANALYZING)
        await uow.executions.update_state(tenant, rows[4].id, F.CANCELLED)
        await uow.commit()
    base = rows[0].created_at

    async def ids(**filters: object) -> tuple[list[int], int]:
        async with UnitOfWork(sessions) as uow:
            page = await uow.executions.search(FeatureSearchQuery(tenant_id=tenant, **filters))  # type: ignore[arg-type]
        return [rows.index(next(r for r in rows if r.id == p.id)) for p in page.items], page.total

    assert await ids() == ([4, 3, 2, 1, 0], 5)
    assert await ids(repository_id=repo_a.id) == ([4, 2, 0], 3)
    assert await ids(states=[F.ANALYZING, F.CANCELLED]) == ([4, 2], 2)
    assert await ids(states=[F.PENDING]) == ([3, 1, 0], 3)
    assert await ids(created_after=base + timedelta(minutes=2)) == ([4, 3], 2)
    assert await ids(created_before=base + timedelta(minutes=2)) == ([1, 0], 2)
    assert await ids(query="payment WEBHOOK") == ([1], 1)
    assert await ids(query="feature 2") == ([2], 1)
    # LIKE wildcards in the query are literal
    assert await ids(query="100%_") == ([3], 1)
    assert await ids(query="%d") == ([], 0)
    assert await ids(limit=2) == ([4, 3], 5)
    assert await ids(limit=2, offset=2) == ([2, 1], 5)
    assert await ids(limit=2, offset=4) == ([0], 5)
    assert await ids(limit=2, offset=6) == ([], 5)
    assert await ids(repository_id=repo_b.id, states=[F.PENDING], query="feature") == ([3, 1], 2)
    assert await ids(repository_id="not-a-uuid") == ([], 0)
    with pytest.raises(ValidationFailed, match="offset must be 0 or more"):
        await ids(offset=-1)


async def test_branch_of_reads_the_branch_a_live_execution_of_the_tenant_locks(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = await committed_execution(sessions, feature_branch="builder/health")
    async with UnitOfWork(sessions) as uow:
        assert await uow.executions.branch_of(row.tenant_id, row.id) == (
            row.repository_id, "builder/health"
        )  # fmt: skip
        for tenant, execution in ((new_tenant(), row.id), (row.tenant_id, "not-a-uuid")):
            with pytest.raises(NotFound):
                await uow.executions.branch_of(tenant, execution)


async def test_soft_deleted_execution_is_gone_from_every_read(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    row = await committed_execution(sessions, idempotency_key="gone", correlation_id="c-gone")
    async with UnitOfWork(sessions) as uow:
        await uow.executions.soft_delete(row.tenant_id, row.id)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(NotFound):
            await uow.executions.get(row.tenant_id, row.id)
        assert await uow.executions.find_by_idempotency_key(row.tenant_id, "gone") is None
        with pytest.raises(NotFound):
            await uow.executions.get_by_correlation_id(row.tenant_id, "c-gone")
        page = await uow.executions.search(FeatureSearchQuery(tenant_id=row.tenant_id))
        assert page.total == 0
        with pytest.raises(NotFound):
            await uow.executions.update_state(row.tenant_id, row.id, F.CANCELLED)
        with pytest.raises(NotFound):
            await uow.executions.branch_of(row.tenant_id, row.id)
        # its key is free again
        again = await uow.executions.create(
            row.tenant_id,
            row.repository_id,
            title="again",
            description="long enough text",
            target_branch="main",
            idempotency_key="gone",
        )
        assert again.id != row.id
    assert uuid.UUID(str(again.id))

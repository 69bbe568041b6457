"""Tenant A can never read, list, update or delete tenant B's rows through any repository:
another tenant's row is "not found", exactly like a missing one."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import ChangeType, FeatureState, StepState, StepType
from domain.errors import NotFound
from domain.values import ExecutionPlan, ExecutionProgress, FileChangeStat, PlanStep
from persistence.repositories import FeatureSearchQuery
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_execution, new_tenant


async def test_tenant_a_cannot_touch_tenant_b_through_any_repository(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    b = new_tenant()
    ex = await committed_execution(sessions, b, idempotency_key="k", correlation_id="c")
    async with UnitOfWork(sessions) as uow:
        steps = await uow.steps.upsert_plan(
            b, ex.id, ExecutionPlan(steps=[PlanStep(index=0, description="s", type=StepType.TEST)])
        )
        await uow.file_changes.record(
            b, steps[0].id, [FileChangeStat(file_path="x", change_type=ChangeType.CREATED)]
        )
        key = await uow.api_keys.create(b, "ci")
        repo = await uow.repositories.get(b, ex.repository_id)
        await uow.commit()

    a = new_tenant()
    step = steps[0]
    async with UnitOfWork(sessions) as uow:
        r, x, s, fc, k = (
            uow.repositories,
            uow.executions,
            uow.steps,
            uow.file_changes,
            uow.api_keys,
        )
        # reads and lists
        with pytest.raises(NotFound):
            await r.get(a, repo.id)
        assert await r.find_by_name(a, repo.name) is None
        assert (await r.list_by_tenant(a)).total == 0
        with pytest.raises(NotFound):
            await x.get(a, ex.id)
        assert await x.find_by_idempotency_key(a, "k") is None
        with pytest.raises(NotFound):
            await x.get_by_correlation_id(a, "c")
        assert (await x.search(FeatureSearchQuery(tenant_id=a, repository_id=repo.id))).total == 0
        with pytest.raises(NotFound):
            await s.get(a, step.id)
        with pytest.raises(NotFound):
            await s.get_by_feature_id(a, ex.id)
        with pytest.raises(NotFound):
            await s.get_by_index(a, ex.id, 0)
        with pytest.raises(NotFound):
            await fc.list_by_execution(a, ex.id)
        with pytest.raises(NotFound):
            await fc.list_by_step(a, step.id)
        assert await k.list(a) == []
        # writes
        with pytest.raises(NotFound):
            await r.update(a, repo.id, name="stolen")
        with pytest.raises(NotFound):
            await r.soft_delete(a, repo.id)
        with pytest.raises(NotFound):
            await x.create(a, repo.id, title="t", description="long enough", target_branch="m")
        with pytest.raises(NotFound):
            await x.update_state(a, ex.id, FeatureState.CANCELLED)
        with pytest.raises(NotFound):
            await x.update(a, ex.id, progress=ExecutionProgress())
        with pytest.raises(NotFound):
            await x.soft_delete(a, ex.id)
        with pytest.raises(NotFound):
            await s.upsert(a, ex.id, PlanStep(index=1, description="s", type=StepType.TEST))
        with pytest.raises(NotFound):
            await s.update_state(a, step.id, StepState.FAILED)
        with pytest.raises(NotFound):
            await s.record_commit(a, step.id, "f" * 40, lines_added=0, lines_removed=0)
        with pytest.raises(NotFound):
            await fc.record(
                a, step.id, [FileChangeStat(file_path="y", change_type=ChangeType.CREATED)]
            )
        with pytest.raises(NotFound):
            await k.revoke(a, key.id)
        await uow.commit()

    # tenant B's data is untouched
    async with UnitOfWork(sessions) as uow:
        assert (await uow.repositories.get(b, repo.id)).name == repo.name
        assert (await uow.executions.get(b, ex.id)).state == FeatureState.PENDING
        assert [st.state for st in await uow.steps.get_by_feature_id(b, ex.id)] == [
            StepState.PENDING
        ]
        assert [c.file_path for c in await uow.file_changes.list_by_execution(b, ex.id)] == ["x"]
        assert await uow.api_keys.authenticate(key.plaintext.get_secret_value()) == b


async def test_a_foreign_row_and_a_missing_row_give_the_same_error(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ex = await committed_execution(sessions)
    missing = uuid.uuid4()
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(NotFound) as foreign:
            await uow.executions.get(new_tenant(), ex.id)
        with pytest.raises(NotFound) as absent:
            await uow.executions.get(new_tenant(), missing)
    assert str(foreign.value).replace(str(ex.id), "ID") == str(absent.value).replace(
        str(missing), "ID"
    )
    assert foreign.value.code == absent.value.code

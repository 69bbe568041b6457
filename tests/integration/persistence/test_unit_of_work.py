"""The unit of work commits only when asked and otherwise rolls back everything."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_execution, new_tenant

URL = "https://git.example.com/acme/app.git"


async def test_leaving_without_commit_rolls_everything_back(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    ex = await committed_execution(sessions, tenant)
    async with UnitOfWork(sessions) as uow:
        repo = await uow.repositories.create(tenant, "uncommitted", URL)
        await uow.events.append(ex.id, "x", {}, producer_id="p")
        await uow.api_keys.create(tenant, "k")
    # rows read inside stay readable after the block
    assert repo.name == "uncommitted"
    async with UnitOfWork(sessions) as uow:
        assert await uow.repositories.find_by_name(tenant, "uncommitted") is None
        assert await uow.events.latest_sequence(ex.id) == 0
        assert await uow.api_keys.list(tenant) == []


async def test_an_exception_in_the_block_rolls_back_and_propagates(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    with pytest.raises(RuntimeError, match="boom"):
        async with UnitOfWork(sessions) as uow:
            await uow.repositories.create(tenant, "doomed", URL)
            raise RuntimeError("boom")
    async with UnitOfWork(sessions) as uow:
        assert await uow.repositories.find_by_name(tenant, "doomed") is None


async def test_commit_makes_work_durable_and_later_work_needs_its_own_commit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    async with UnitOfWork(sessions) as uow:
        await uow.repositories.create(tenant, "kept", URL)
        await uow.commit()
        await uow.repositories.create(tenant, "dropped", URL)
    async with UnitOfWork(sessions) as uow:
        names = [r.name for r in (await uow.repositories.list_by_tenant(tenant)).items]
    assert names == ["kept"]


async def test_explicit_rollback_discards_pending_work(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    async with UnitOfWork(sessions) as uow:
        await uow.repositories.create(tenant, "undone", URL)
        await uow.rollback()
        await uow.repositories.create(tenant, "done", URL)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        names = [r.name for r in (await uow.repositories.list_by_tenant(tenant)).items]
    assert names == ["done"]


async def test_a_unit_that_only_reads_runs_outside_a_transaction_and_leaves_none_behind(
    db_engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from typing import Any

    from sqlalchemy import event

    execution = await committed_execution(sessions)
    seen: list[bool] = []

    def after(conn: Any, *_args: Any) -> None:
        seen.append(conn.connection.driver_connection.is_in_transaction())

    event.listen(db_engine.sync_engine, "after_cursor_execute", after)
    try:
        async with UnitOfWork(sessions) as uow:
            await uow.reads_only()
            found, _repository = await uow.executions.with_repository(
                execution.tenant_id, execution.id
            )
            assert found.id == execution.id
        reads, seen[:] = list(seen), []
        async with UnitOfWork(sessions) as uow:  # the pooled connection is transactional again
            await uow.executions.with_repository(execution.tenant_id, execution.id)
        assert reads == [False] and seen == [True]
    finally:
        event.remove(db_engine.sync_engine, "after_cursor_execute", after)

"""Builders of committed test data: every call uses a fresh tenant unless given one."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.tables import FeatureExecutionRow, RepositoryRow
from persistence.uow import UnitOfWork


def new_tenant() -> uuid.UUID:
    return uuid.uuid4()


async def committed_repository(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID | None = None,
    name: str | None = None,
) -> RepositoryRow:
    async with UnitOfWork(sessions) as uow:
        row = await uow.repositories.create(
            tenant_id or new_tenant(),
            name or f"repo-{uuid.uuid4().hex[:8]}",
            "https://git.example.com/acme/app.git",
        )
        await uow.commit()
    return row


async def committed_execution(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID | None = None,
    *,
    title: str = "Add a health endpoint",
    description: str = "Expose GET /health returning ok",
    repository: RepositoryRow | None = None,
    **fields: object,
) -> FeatureExecutionRow:
    tenant = tenant_id or (repository.tenant_id if repository else new_tenant())
    repo = repository or await committed_repository(sessions, tenant)
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.create(
            tenant,
            repo.id,
            title=title,
            description=description,
            target_branch="main",
            **fields,  # type: ignore[arg-type]
        )
        await uow.commit()
    return row


async def stored_sequences(
    sessions: async_sessionmaker[AsyncSession], execution_id: uuid.UUID
) -> list[int]:
    """The stream's stored sequence numbers, in order."""
    async with sessions() as session:
        result = await session.execute(
            text(
                "SELECT sequence_number FROM execution_events"
                " WHERE feature_execution_id = :e ORDER BY sequence_number"
            ),
            {"e": execution_id},
        )
        return [int(r[0]) for r in result]

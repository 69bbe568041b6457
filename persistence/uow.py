"""The unit of work: one session, one transaction, every repository bound to it.

    async with UnitOfWork(session_factory) as uow:
        repo = await uow.repositories.create(tenant, "api", url)
        await uow.events.append(execution_id, "x", {}, producer_id="api")
        await uow.commit()

Leaving the block without `commit()` rolls everything back (cosmicpython's default), so an
exception half-way through a use case changes nothing.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.agent_turns import AgentTurnRepository
from persistence.events import EventStore
from persistence.locks import LockRepository
from persistence.repositories import (
    ApiKeyRepository,
    ExecutionStepRepository,
    FeatureExecutionRepository,
    FileChangeRepository,
    RepositoryRepository,
)


class UnitOfWork:
    """A transaction boundary exposing the repositories; rolls back unless committed."""

    session: AsyncSession
    repositories: RepositoryRepository
    executions: FeatureExecutionRepository
    steps: ExecutionStepRepository
    file_changes: FileChangeRepository
    events: EventStore
    locks: LockRepository
    api_keys: ApiKeyRepository
    agent_turns: AgentTurnRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> UnitOfWork:
        self.session = session = self._session_factory()
        self.repositories = RepositoryRepository(session)
        self.executions = FeatureExecutionRepository(session)
        self.steps = ExecutionStepRepository(session)
        self.file_changes = FileChangeRepository(session)
        self.events = EventStore(session)
        self.locks = LockRepository(session)
        self.api_keys = ApiKeyRepository(session)
        self.agent_turns = AgentTurnRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed; unlike rollback() it detaches the
        # rows without expiring them, so what the block read stays readable afterwards
        await self.session.close()

    async def commit(self) -> None:
        """Append the staged events, then make everything done so far durable; the unit of
        work stays usable."""
        if self.events.streams == 1 and not self.session.in_transaction():
            # nothing else was read or written: the append statement is the whole unit,
            # one round trip instead of BEGIN, the statement and COMMIT
            conn = await self.session.connection(
                execution_options={"isolation_level": "AUTOCOMMIT"}
            )
            try:
                await self.events.flush_autocommitted(conn)
            except BaseException:
                # give the AUTOCOMMIT connection back: whatever the caller does next in this
                # unit of work runs in a transaction again
                await self.session.rollback()
                raise
            await self.session.commit()  # ends the session's transaction; the row is stored
            return
        if self.events.staged:
            await self.events.flush()
        await self.session.commit()

    async def rollback(self) -> None:
        """Discard everything since the last commit."""
        await self.session.rollback()

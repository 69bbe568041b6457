"""The unit of work: one session, one transaction, every repository bound to it.

    async with UnitOfWork(session_factory) as uow:
        repo = await uow.repositories.create(tenant, "api", url)
        await uow.events.append(execution_id, "x", {}, producer_id="api")
        await uow.commit()

Leaving the block without `commit()` rolls everything back (cosmicpython's default), so an
exception half-way through a use case changes nothing.
"""

from __future__ import annotations

from functools import cached_property
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

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
    """A transaction boundary exposing the repositories; rolls back unless committed.

    Repositories are made on first use: most units use one or two of them, and an
    activity runs several units."""

    session: AsyncSession

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._session_factory()
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

    @cached_property
    def repositories(self) -> RepositoryRepository:
        return RepositoryRepository(self.session)

    @cached_property
    def executions(self) -> FeatureExecutionRepository:
        return FeatureExecutionRepository(self.session)

    @cached_property
    def steps(self) -> ExecutionStepRepository:
        return ExecutionStepRepository(self.session)

    @cached_property
    def file_changes(self) -> FileChangeRepository:
        return FileChangeRepository(self.session)

    @cached_property
    def events(self) -> EventStore:
        return EventStore(self.session)

    @cached_property
    def locks(self) -> LockRepository:
        return LockRepository(self.session)

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        return ApiKeyRepository(self.session)

    @cached_property
    def agent_turns(self) -> AgentTurnRepository:
        return AgentTurnRepository(self.session)

    async def reads_only(self) -> UnitOfWork:
        """Declare, before its first statement, that this unit only reads: its statements
        then run without BEGIN and ROLLBACK around them, two round trips fewer. Nothing is
        lost: at READ COMMITTED each statement reads its own snapshot in a transaction too.
        A write in such a unit would commit at once, so never write in one."""
        await self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return self

    async def commit(self) -> None:
        """Append the staged events, then make everything done so far durable; the unit of
        work stays usable."""
        staged = self.__dict__.get("events")  # the event store, if this unit ever used it
        if staged is None or not staged.staged:
            await self.session.commit()
            return
        if staged.streams == 1 and not self.session.in_transaction():
            # nothing else was read or written: the append statement is the whole unit,
            # one round trip instead of BEGIN, the statement and COMMIT, on a connection of
            # its own (the session never began, so it has nothing to end)
            engine = self.session.bind
            assert isinstance(engine, AsyncEngine), "a unit of work's session is bound"
            async with engine.connect() as conn:
                alone = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await staged.flush_autocommitted(alone)
            return
        await staged.flush()
        await self.session.commit()

    async def rollback(self) -> None:
        """Discard everything since the last commit."""
        await self.session.rollback()

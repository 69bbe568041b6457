"""The pool checks a connection before use only when it sat idle (persistence/db.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence import db


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(engine: AsyncEngine, pid: int) -> None:
    async with engine.connect() as conn:
        # the pool's single connection is back in the pool: this one is a new one
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


async def _kill_pooled_connection(database_url: str, pid: int) -> None:
    other = db.create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        await _terminate(other, pid)
    finally:
        await other.dispose()


async def test_a_connection_killed_while_idle_is_replaced_before_use(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    pid = await _backend(engine)
    await _kill_pooled_connection(database_url, pid)
    # the checkout's ping finds it dead; the pool hands out a new connection
    assert await _backend(engine) != pid


async def test_a_connection_back_in_the_pool_a_moment_ago_is_used_without_a_check(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    pid = await _backend(engine)
    await _kill_pooled_connection(database_url, pid)
    # no check: the dead connection fails its statement, which SQLAlchemy takes for a
    # disconnect (asyncpg says "connection is closed" or, when the termination notice
    # arrives mid-statement, "another operation is in progress"), so the pool is invalidated
    with pytest.raises(exc.DBAPIError) as failed:
        await _backend(engine)
    assert failed.value.connection_invalidated
    assert await _backend(engine) != pid


async def test_a_lone_event_on_a_dead_connection_fails_once_and_the_connection_is_dropped(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a lone event's append runs on the driver itself (persistence/events.py): a dead
    # connection must not go back to the pool as if it were fine
    import asyncpg

    from domain.events import EventType
    from persistence.uow import UnitOfWork
    from tests.integration.persistence.factories import committed_execution, stored_sequences

    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    sessions = db.session_factory(engine)
    execution = await committed_execution(sessions)
    pid = await _backend(engine)
    await _kill_pooled_connection(database_url, pid)

    async def lone_event() -> None:
        async with UnitOfWork(sessions) as uow:
            uow.events.stage(execution.id, EventType.STEP_COMPLETED, {}, producer_id="t")
            await uow.commit()

    with pytest.raises(Exception) as failed:  # closed, or "another operation is in progress"
        await lone_event()
    assert not isinstance(failed.value, asyncpg.PostgresError)
    await lone_event()  # a new connection: the dead one was invalidated
    assert await stored_sequences(sessions, execution.id) == [1]
    assert await _backend(engine) != pid


def test_a_server_error_leaves_the_connection_usable_unless_it_says_the_connection_is_gone() -> (
    None
):
    import asyncpg

    from persistence.events import _connection_gone

    class Driver:
        def __init__(self, closed: bool) -> None:
            self.closed = closed

        def is_closed(self) -> bool:
            return self.closed

    open_, closed = Driver(False), Driver(True)
    race = asyncpg.UniqueViolationError("duplicate key")
    assert not _connection_gone(race, open_)  # a lost same-id race: the connection is fine
    assert _connection_gone(race, closed)
    assert _connection_gone(asyncpg.AdminShutdownError("terminating connection"), open_)  # 57P01
    assert _connection_gone(asyncpg.ConnectionFailureError("gone"), open_)  # class 08
    assert _connection_gone(asyncpg.InterfaceError("another operation is in progress"), open_)

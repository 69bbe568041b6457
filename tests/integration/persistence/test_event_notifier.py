"""The SSE wake-up source: the cursor poller wakes exactly the streams whose execution got
a committed event, misses nothing across a lost connection, and keeps NOTIFY off the write
path."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.event_notifier import EventNotifier
from domain.events import EventType
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_execution


async def _append(sessions: async_sessionmaker[AsyncSession], execution_id: uuid.UUID) -> None:
    async with UnitOfWork(sessions) as uow:
        uow.events.stage(execution_id, EventType.STEP_COMPLETED, {}, producer_id="tests")
        await uow.commit()


async def _woken(waiter: asyncio.Event, timeout: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(waiter.wait(), timeout)
    except TimeoutError:
        return False
    waiter.clear()
    return True


async def test_a_commit_wakes_its_execution_only(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    watched = await committed_execution(sessions)
    other = await committed_execution(sessions)
    notifier = EventNotifier(database_url)
    try:
        async with notifier.subscribe(watched.id) as waiter:
            assert await _woken(waiter)  # the first poll always wakes: re-read once
            assert not await _woken(waiter, 0.3)
            await _append(sessions, other.id)
            assert not await _woken(waiter, 0.3)
            await _append(sessions, watched.id)
            assert await _woken(waiter)
            async with UnitOfWork(sessions) as uow:  # never committed: no wake-up
                uow.events.stage(watched.id, EventType.STEP_COMPLETED, {}, producer_id="t")
                await uow.events.flush()
            assert not await _woken(waiter, 0.3)
    finally:
        await notifier.close()


async def test_a_commit_during_a_lost_connection_wakes_after_the_reconnect(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    execution = await committed_execution(sessions)
    notifier = EventNotifier(database_url)
    try:
        async with notifier.subscribe(execution.id) as waiter:
            assert await _woken(waiter)
            async with sessions.begin() as session:
                terminated = await session.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE query LIKE 'SELECT id, sequence_cursor FROM feature_executions%'"
                        " AND pid <> pg_backend_pid()"
                    )
                )
                assert terminated.scalar() is True
            await _append(sessions, execution.id)  # while the poller is reconnecting
            assert await _woken(waiter, 3.0)
            await _append(sessions, execution.id)  # and polling goes on afterwards
            assert await _woken(waiter, 3.0)
    finally:
        await notifier.close()


async def test_appends_send_no_notification(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        triggers = await session.scalar(
            text(
                "SELECT count(*) FROM pg_trigger"
                " WHERE tgrelid = 'execution_events'::regclass AND NOT tgisinternal"
            )
        )
    assert triggers == 0

"""A unit of work that only staged events of one stream commits them as one statement
(persistence/uow.py): no BEGIN/COMMIT round trips, the same guarantees as the
transactional append (gap-free numbers, idempotent ids, NotFound, Conflict)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.errors import Conflict, NotFound
from domain.events import EventType
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_execution, stored_sequences


@pytest.fixture
def in_transaction(db_engine: AsyncEngine) -> Iterator[list[tuple[str, bool]]]:
    """For each statement on the event table, whoever ran it (SQLAlchemy, or the driver
    itself for a lone event): its verb and whether a transaction block was open on the
    connection when it ran."""
    seen: list[tuple[str, bool]] = []

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "execution_events" in statement:
            driver = conn.connection.driver_connection
            seen.append((statement.split()[0], driver.is_in_transaction()))

    def checked_out(_dbapi: Any, record: Any, proxy: Any) -> None:
        driver = proxy.driver_connection

        def logged(query: Any) -> None:  # the driver's own queries (SQLAlchemy prepares its)
            if "execution_events" in query.query:
                seen.append((query.query.split()[0], driver.is_in_transaction()))

        driver.add_query_logger(logged)
        record.info["test_logger"] = (driver, logged)

    def checked_in(_dbapi: Any, record: Any) -> None:
        if record is not None and "test_logger" in record.info:
            driver, logged = record.info.pop("test_logger")
            driver.remove_query_logger(logged)

    engine, pool = db_engine.sync_engine, db_engine.sync_engine.pool
    event.listen(engine, "after_cursor_execute", after)
    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
    yield seen
    event.remove(engine, "after_cursor_execute", after)
    event.remove(pool, "checkout", checked_out)
    event.remove(pool, "checkin", checked_in)


async def _stage_and_commit(
    sessions: async_sessionmaker[AsyncSession],
    execution_id: uuid.UUID,
    n: int,
    event_id: uuid.UUID | None = None,
    events: int = 1,
) -> None:
    async with UnitOfWork(sessions) as uow:
        for i in range(events):
            uow.events.stage(
                execution_id, EventType.STEP_COMPLETED, {"n": n, "i": i},
                producer_id=f"writer-{n}", event_id=event_id if i == 0 else None,
            )  # fmt: skip
        await uow.commit()


@pytest.mark.parametrize("events", [1, 3])
async def test_staged_events_of_one_stream_alone_are_one_statement_outside_a_transaction(
    sessions: async_sessionmaker[AsyncSession],
    in_transaction: list[tuple[str, bool]],
    events: int,
) -> None:
    execution = await committed_execution(sessions)
    await _stage_and_commit(sessions, execution.id, 1, events=events)
    assert in_transaction == [("WITH", False)]
    assert await stored_sequences(sessions, execution.id) == list(range(1, events + 1))


async def test_a_unit_of_work_that_did_other_work_appends_inside_its_transaction(
    sessions: async_sessionmaker[AsyncSession], in_transaction: list[tuple[str, bool]]
) -> None:
    execution = await committed_execution(sessions)
    other = await committed_execution(sessions)
    async with UnitOfWork(sessions) as uow:
        await uow.executions.get(execution.tenant_id, execution.id)
        uow.events.stage(execution.id, "x", {}, producer_id="p")
        await uow.commit()
    async with UnitOfWork(sessions) as uow:  # two streams: one transaction for both
        uow.events.stage(execution.id, "x", {}, producer_id="p")
        uow.events.stage(other.id, "x", {}, producer_id="p")
        await uow.commit()
    assert [open_ for _verb, open_ in in_transaction] == [True, True, True]
    assert await stored_sequences(sessions, execution.id) == [1, 2]


async def test_concurrent_duplicates_staged_alone_store_the_id_once_and_leave_no_gap(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    event_id = uuid.uuid4()
    await asyncio.gather(
        *(_stage_and_commit(sessions, execution.id, n, event_id) for n in range(10)),
        *(_stage_and_commit(sessions, execution.id, 100 + n) for n in range(20)),
        *(_stage_and_commit(sessions, execution.id, 200 + n, events=2) for n in range(5)),
    )
    assert await stored_sequences(sessions, execution.id) == list(range(1, 1 + 1 + 20 + 10))
    async with UnitOfWork(sessions) as uow:
        assert await uow.events.latest_sequence(execution.id) == 31
        stored = await uow.events.read_after(execution.id, 0, limit=100)
    assert sum(e.id == event_id for e in stored) == 1


async def test_staged_alone_to_an_unknown_stream_or_with_a_foreign_id_fails_and_stores_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=str(missing)):
        await _stage_and_commit(sessions, missing, 1)
    one = await committed_execution(sessions)
    two = await committed_execution(sessions)
    taken = uuid.uuid4()
    await _stage_and_commit(sessions, one.id, 1, taken)
    with pytest.raises(Conflict, match=f"already belongs to feature execution {one.id}"):
        await _stage_and_commit(sessions, two.id, 2, taken)
    with pytest.raises(Conflict, match=f"already belongs to feature execution {one.id}"):
        async with UnitOfWork(sessions) as uow:  # a new event and the foreign id: neither
            uow.events.stage(two.id, "x", {}, producer_id="p")
            uow.events.stage(two.id, "x", {}, producer_id="p", event_id=taken)
            await uow.commit()
    assert await stored_sequences(sessions, two.id) == []
    async with UnitOfWork(sessions) as uow:
        assert await uow.events.latest_sequence(two.id) == 0


async def test_losing_a_same_id_race_on_its_own_retries_and_finds_the_stored_event(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    event_id = uuid.uuid4()
    async with UnitOfWork(sessions) as holder:
        # the holder appended the id and holds the stream's row lock, uncommitted: the
        # statement alone sees no stored id, waits for the lock, then its insert collides
        await holder.events.append(execution.id, "x", {}, producer_id="p", event_id=event_id)
        racing = asyncio.ensure_future(_stage_and_commit(sessions, execution.id, 1, event_id))
        await asyncio.sleep(0.3)
        assert not racing.done()
        await holder.commit()
    await racing
    await _stage_and_commit(sessions, execution.id, 2)
    assert await stored_sequences(sessions, execution.id) == [1, 2]


async def test_after_a_failed_commit_on_its_own_the_unit_of_work_is_transactional_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    async with UnitOfWork(sessions) as uow:
        uow.events.stage(uuid.uuid4(), "x", {}, producer_id="p")  # an unknown stream
        with pytest.raises(NotFound):
            await uow.commit()
        await uow.session.execute(
            text("UPDATE feature_executions SET title = 'changed' WHERE id = :id"),
            {"id": execution.id},
        )
        await uow.rollback()
    async with sessions() as session:
        title = await session.scalar(
            text("SELECT title FROM feature_executions WHERE id = :id"), {"id": execution.id}
        )
    assert title == execution.title


async def test_one_event_alone_is_stored_exactly_as_the_transactional_append_stores_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # the lone event runs as precompiled driver SQL: every column must come out the same
    from datetime import UTC, datetime

    from persistence.events import read_after

    cause, correlation = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    fields: dict[str, Any] = {
        "producer_id": "writer", "causation_id": cause, "correlation_id": correlation,
        "tags": {"phase": "test", "n": 2}, "timestamp": at,
    }  # fmt: skip
    stored = []
    for alone in (True, False):
        execution = await committed_execution(sessions)
        async with UnitOfWork(sessions) as uow:
            if not alone:  # other work first: the append joins the unit's transaction
                await uow.session.execute(text("SELECT 1"))
            uow.events.stage(execution.id, EventType.STEP_COMPLETED, {"é": [1, None]}, **fields)
            await uow.commit()
        async with sessions() as session:
            (event,) = await read_after(session, execution.id)
        stored.append(event)
    lone, transactional = stored
    for name in ("event_type", "sequence_number", "timestamp", "causation_id",
                 "correlation_id", "payload", "payload_schema", "producer_id", "tags"):  # fmt: skip
        assert getattr(lone, name) == getattr(transactional, name), name
    assert lone.payload == {"é": [1, None]} and lone.tags == {"phase": "test", "n": 2}
    assert lone.timestamp == at and lone.causation_id == cause

"""The event store: gap-free sequences under concurrency and idempotent appends."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.errors import Conflict, NotFound
from domain.events import PAYLOAD_SCHEMA, EventType
from persistence import events
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_execution, stored_sequences


async def _append_committed(
    sessions: async_sessionmaker[AsyncSession],
    execution_id: uuid.UUID,
    n: int,
    event_id: uuid.UUID | None = None,
) -> events.AppendedEvent:
    async with UnitOfWork(sessions) as uow:
        appended = await uow.events.append(
            execution_id,
            EventType.STEP_COMPLETED,
            {"n": n},
            producer_id=f"writer-{n}",
            event_id=event_id,
        )
        await uow.commit()
    return appended


async def test_fifty_concurrent_appends_get_exactly_one_to_fifty(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    appended = await asyncio.gather(
        *(_append_committed(sessions, execution.id, n) for n in range(50))
    )
    assert sorted(a.sequence_number for a in appended) == list(range(1, 51))
    assert all(a.created for a in appended)
    assert await stored_sequences(sessions, execution.id) == list(range(1, 51))
    async with UnitOfWork(sessions) as uow:
        assert await uow.events.latest_sequence(execution.id) == 50


async def test_reappending_the_same_id_is_a_no_op_returning_the_stored_sequence(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    event_id = uuid.uuid4()
    first = await _append_committed(sessions, execution.id, 1, event_id)
    await _append_committed(sessions, execution.id, 2)
    again = await _append_committed(sessions, execution.id, 3, event_id)
    assert (first.sequence_number, first.created) == (1, True)
    assert (again.id, again.sequence_number, again.created) == (event_id, 1, False)
    nxt = await _append_committed(sessions, execution.id, 4)
    assert nxt.sequence_number == 3
    assert await stored_sequences(sessions, execution.id) == [1, 2, 3]


async def test_concurrent_duplicates_of_one_id_store_it_once_and_leave_no_gap(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    event_id = uuid.uuid4()
    duplicates = [_append_committed(sessions, execution.id, n, event_id) for n in range(10)]
    others = [_append_committed(sessions, execution.id, 100 + n) for n in range(10)]
    results = await asyncio.gather(*duplicates, *others)
    dup_results = results[:10]
    assert sum(r.created for r in dup_results) == 1
    assert len({r.sequence_number for r in dup_results}) == 1
    assert await stored_sequences(sessions, execution.id) == list(range(1, 12))
    async with UnitOfWork(sessions) as uow:
        assert await uow.events.latest_sequence(execution.id) == 11


async def test_duplicate_within_one_transaction_is_a_no_op(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    event_id = uuid.uuid4()
    async with UnitOfWork(sessions) as uow:
        a = await uow.events.append(execution.id, "x", {}, producer_id="p", event_id=event_id)
        b = await uow.events.append(execution.id, "x", {}, producer_id="p", event_id=event_id)
        await uow.commit()
    assert (a.created, b.created, a.sequence_number, b.sequence_number) == (True, False, 1, 1)


async def test_read_after_returns_decoded_events_in_order_from_a_cursor(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    cause, correlation = uuid.uuid4(), uuid.uuid4()
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    async with UnitOfWork(sessions) as uow:
        first = await uow.events.append(
            execution.id,
            EventType.EXECUTION_CREATED,
            {"title": "Add health", "nested": {"k": [1, 2]}},
            producer_id="api",
            causation_id=cause,
            correlation_id=correlation,
            tags={"source": "test"},
            timestamp=when,
        )
        for n in range(4):
            await uow.events.append(execution.id, EventType.STEP_STARTED, {"n": n}, producer_id="w")
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        everything = await uow.events.read_after(execution.id, 0)
        tail = await uow.events.read_after(execution.id, 2, limit=2)
    assert [e.sequence_number for e in everything] == [1, 2, 3, 4, 5]
    head = everything[0]
    assert head.id == first.id and head.id.version == 7
    assert head.payload == {"title": "Add health", "nested": {"k": [1, 2]}}
    assert head.payload_schema == PAYLOAD_SCHEMA
    assert (head.causation_id, head.correlation_id) == (cause, correlation)
    assert head.timestamp == when and head.tags == {"source": "test"}
    assert head.event_type == "execution.created" and head.producer_id == "api"
    assert [(e.sequence_number, e.payload) for e in tail] == [(3, {"n": 1}), (4, {"n": 2})]


async def test_appending_to_an_unknown_execution_is_not_found(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    missing = uuid.uuid4()
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(NotFound, match=str(missing)):
            await uow.events.append(missing, "x", {}, producer_id="p")
        with pytest.raises(NotFound, match=str(missing)):
            await uow.events.latest_sequence(missing)


async def test_an_event_id_of_another_stream_is_a_conflict(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    one = await committed_execution(sessions)
    two = await committed_execution(sessions)
    taken = await _append_committed(sessions, one.id, 1)
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(Conflict, match=f"already belongs to feature execution {one.id}"):
            await uow.events.append(two.id, "x", {}, producer_id="p", event_id=taken.id)
        assert await uow.events.latest_sequence(two.id) == 0


async def test_append_without_commit_leaves_no_trace(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    async with UnitOfWork(sessions) as uow:
        await uow.events.append(execution.id, "x", {}, producer_id="p")
    async with UnitOfWork(sessions) as uow:
        assert await uow.events.latest_sequence(execution.id) == 0
        assert await uow.events.read_after(execution.id, 0) == []


async def test_event_log_groups_concurrent_appends_into_gap_free_numbers(
    sessions: async_sessionmaker[AsyncSession], db_engine: AsyncEngine
) -> None:
    execution = await committed_execution(sessions)
    log = events.EventLog(db_engine)
    dup = uuid.uuid4()
    appended = await asyncio.gather(
        *(log.append(execution.id, "x", {"n": n}, producer_id="w") for n in range(50)),
        *(
            log.append(execution.id, "x", {"dup": True}, producer_id="w", event_id=dup)
            for _ in range(5)
        ),
        # a writer in its own transaction interleaves with the grouped ones
        *(_append_committed(sessions, execution.id, 100 + n) for n in range(5)),
    )
    dups = appended[50:55]
    assert sum(a.created for a in dups) == 1 and len({a.sequence_number for a in dups}) == 1
    assert sorted({a.sequence_number for a in appended}) == list(range(1, 57))
    assert await stored_sequences(sessions, execution.id) == list(range(1, 57))
    again = await log.append(execution.id, "x", {}, producer_id="w", event_id=dup)
    assert (again.created, again.sequence_number) == (False, dups[0].sequence_number)
    async with UnitOfWork(sessions) as uow:
        stored = await uow.events.read_after(execution.id, 0, limit=100)
    ours = [e for e in stored if e.payload.get("n") is not None and e.producer_id == "w"]
    assert sorted(e.payload["n"] for e in ours) == list(range(50))


async def test_event_log_reports_unknown_streams_and_foreign_ids_per_caller(
    sessions: async_sessionmaker[AsyncSession], db_engine: AsyncEngine
) -> None:
    one = await committed_execution(sessions)
    two = await committed_execution(sessions)
    log = events.EventLog(db_engine)
    taken = await log.append(one.id, "x", {}, producer_id="w")
    missing = uuid.uuid4()
    with pytest.raises(NotFound, match=str(missing)):
        await log.append(missing, "x", {}, producer_id="w")
    results = await asyncio.gather(
        log.append(two.id, "x", {}, producer_id="w", event_id=taken.id),
        log.append(two.id, "x", {}, producer_id="w"),
        return_exceptions=True,
    )
    assert isinstance(results[0], Conflict) and str(one.id) in str(results[0])
    assert isinstance(results[1], events.AppendedEvent) and results[1].sequence_number == 1

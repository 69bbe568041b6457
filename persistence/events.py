"""The execution event store: an append-only log per execution with gap-free sequence numbers.

`append` is one round trip in the common case: a CTE bumps `feature_executions.
sequence_cursor` (whose row lock serialises writers of one stream until they commit) and
inserts the event with the new number. Appending an id that already exists is a no-op that
returns the stored sequence number. The caller's unit of work commits.

Events are addressed by execution id only; the API checks the execution's tenant first.

`EventLog` is for high-rate writers: appends inside a caller's transaction hold the stream's
row lock across client round trips and the WAL flush, which caps one stream at a few hundred
appends per second. `EventLog.append` commits on its own, and concurrent appends to one
stream in this process are coalesced into a single statement (one implicit transaction, one
WAL flush), so the lock is held only inside the server and a flush is shared by the batch.
Numbers stay gap-free and an existing id stays a no-op, exactly as with `append`.

Webhook outbox: appending one of the few event types webhooks can subscribe to
(`domain.webhooks.WEBHOOK_EVENT_TYPES`) uses a variant of the same statement whose extra CTE
inserts a `webhook_messages` row per matching subscription, so a committed event always has
its messages and a rolled-back one has none. Every other append runs the statement unchanged.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
import uuid6
from sqlalchemy import DateTime, Integer, LargeBinary, String, bindparam, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from domain.errors import Conflict, NotFound
from domain.events import PAYLOAD_SCHEMA
from domain.webhooks import WEBHOOK_EVENT_TYPES
from persistence.outbox import OUTBOX_RETURNING, outbox_cte
from persistence.tables import ExecutionEventRow, FeatureExecutionRow

_UUID = PgUUID(as_uuid=True)
_T = TypeVar("_T")

# `existing` sees events committed before this statement and those of this transaction;
# `bump` takes the stream's row lock and re-reads the cursor once a competing writer commits.
_APPEND_SQL = """
WITH existing AS (
    SELECT feature_execution_id, sequence_number FROM execution_events WHERE id = :id
), bump AS (
    UPDATE feature_executions SET sequence_cursor = sequence_cursor + 1
    WHERE id = :execution_id AND NOT EXISTS (SELECT 1 FROM existing)
    RETURNING sequence_cursor
), inserted AS (
    INSERT INTO execution_events (
        id, feature_execution_id, event_type, sequence_number, timestamp, causation_id,
        correlation_id, payload, payload_schema, producer_id, tags)
    SELECT :id, :execution_id, :event_type, bump.sequence_cursor,
           COALESCE(CAST(:timestamp AS timestamptz), clock_timestamp()),
           CAST(:causation_id AS uuid), CAST(:correlation_id AS uuid), :payload,
           :payload_schema, :producer_id, CAST(:tags AS jsonb)
    FROM bump{on_conflict}
    RETURNING {returning}
){outbox}
SELECT (SELECT sequence_number FROM inserted) AS inserted_seq,
       (SELECT sequence_number FROM existing) AS existing_seq,
       (SELECT feature_execution_id FROM existing) AS existing_stream,
       (SELECT sequence_cursor FROM bump) AS bumped
"""
_APPEND_PARAMS = (
    bindparam("id", type_=_UUID),
    bindparam("execution_id", type_=_UUID),
    bindparam("event_type", type_=String),
    bindparam("timestamp", type_=DateTime(timezone=True)),
    bindparam("causation_id", type_=_UUID),
    bindparam("correlation_id", type_=_UUID),
    bindparam("payload", type_=LargeBinary),
    bindparam("payload_schema", type_=String),
    bindparam("producer_id", type_=String),
    bindparam("tags", type_=JSONB),
)


def _append_statement(*, outbox: bool, alone: bool) -> Any:
    """The single-event append. In a transaction (`alone=False`) a same-id race is settled
    by ON CONFLICT and undoing the bump; a statement that is its own transaction
    (`alone=True`) has no ON CONFLICT, so losing the race fails it as a whole (bump included)
    and the retry finds the stored id. With `outbox`, for the few event types webhooks can
    subscribe to, the matching subscriptions get their outbox rows in the same statement."""
    sql = _APPEND_SQL.format(
        on_conflict="" if alone else "\n    ON CONFLICT (id) DO NOTHING",
        returning=OUTBOX_RETURNING if outbox else "sequence_number",
        outbox=", " + outbox_cte(":execution_id") if outbox else "",
    )
    return text(sql).bindparams(*_APPEND_PARAMS)


_APPEND = _append_statement(outbox=False, alone=False)
_APPEND_WITH_OUTBOX = _append_statement(outbox=True, alone=False)
_APPEND_ALONE = _append_statement(outbox=False, alone=True)
_APPEND_ALONE_WITH_OUTBOX = _append_statement(outbox=True, alone=True)

# Only after losing a same-id race: this transaction still holds the stream's row lock,
# so undoing its own bump leaves no gap.
_UNDO_BUMP = text(
    "UPDATE feature_executions SET sequence_cursor = sequence_cursor - 1 WHERE id = :execution_id"
).bindparams(bindparam("execution_id", type_=_UUID))

_FIND = text(
    "SELECT feature_execution_id, sequence_number FROM execution_events WHERE id = :id"
).bindparams(bindparam("id", type_=_UUID))

_events = ExecutionEventRow.__table__


@dataclass(frozen=True)
class AppendedEvent:
    """Where an event landed; `created` is False when the id was already in the stream."""

    id: uuid.UUID
    sequence_number: int
    created: bool


@dataclass(frozen=True)
class StoredEvent:
    """One event as read back from the log, payload decoded."""

    id: uuid.UUID
    execution_id: uuid.UUID
    event_type: str
    sequence_number: int
    timestamp: datetime
    causation_id: uuid.UUID | None
    correlation_id: uuid.UUID | None
    payload: dict[str, Any]
    payload_schema: str
    producer_id: str
    tags: dict[str, Any]
    created_at: datetime


def new_event_id() -> uuid.UUID:
    """A time-ordered UUIDv7 (as a plain uuid.UUID)."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def encode_payload(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


async def append(
    session: AsyncSession,
    execution_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    *,
    producer_id: str,
    event_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    correlation_id: uuid.UUID | None = None,
    tags: dict[str, Any] | None = None,
    timestamp: datetime | None = None,
) -> AppendedEvent:
    """Append an event to the execution's stream with the next sequence number.

    Re-appending an existing `event_id` to the same stream returns its stored number with
    `created=False`. NotFound when the execution does not exist; Conflict when the id is
    taken by another execution's event. The row lock on the execution is held until the
    caller commits, so keep the transaction short.
    """
    eid = event_id or new_event_id()
    conn = await session.connection()
    params = _single_params(eid, execution_id, event_type, payload, producer_id,
                            causation_id, correlation_id, tags, timestamp)  # fmt: skip
    webhook = params["event_type"] in WEBHOOK_EVENT_TYPES
    statement = _APPEND_WITH_OUTBOX if webhook else _APPEND
    inserted, existing, stream, bumped = (await conn.execute(statement, params)).one()
    if existing is None and bumped is not None and inserted is None:
        # a concurrent writer committed the same id between our snapshot and our insert
        await conn.execute(_UNDO_BUMP, {"execution_id": execution_id})
        stream, existing = (await conn.execute(_FIND, {"id": eid})).one()
    return _landed(eid, execution_id, inserted, existing, stream)


def _single_params(
    eid: uuid.UUID,
    execution_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    producer_id: str,
    causation_id: uuid.UUID | None,
    correlation_id: uuid.UUID | None,
    tags: dict[str, Any] | None,
    timestamp: datetime | None,
) -> dict[str, Any]:
    """The single-event statement's parameters: a batch item plus its stream, with the
    tags as JSONB instead of text."""
    item = _batch_item(eid, event_type, payload, producer_id, causation_id, correlation_id,
                       tags, timestamp)  # fmt: skip
    return {**item, "execution_id": execution_id, "payload_schema": PAYLOAD_SCHEMA,
            "tags": tags or {}}  # fmt: skip


def _landed(
    eid: uuid.UUID,
    execution_id: uuid.UUID,
    inserted: int | None,
    existing: int | None,
    stream: uuid.UUID | None,
) -> AppendedEvent:
    """Where the single append put `eid`, or why it could not."""
    if inserted is not None:
        return AppendedEvent(eid, int(inserted), True)
    if existing is None:
        raise NotFound(f"feature execution {execution_id} not found")
    if stream != execution_id:
        raise Conflict(f"event id {eid} already belongs to feature execution {stream}")
    return AppendedEvent(eid, int(existing), False)


async def _append_one_autocommitted(
    conn: AsyncConnection, execution_id: uuid.UUID, item: dict[str, Any]
) -> AppendedEvent:
    """One event as a transaction of its own (`conn` in AUTOCOMMIT): one round trip."""
    eid = item["event_id"]
    # a batch item carries the tags as JSON text, which is what the driver's JSONB codec
    # takes (the statement's own JSONB type would encode a dict)
    params = {**_batch_item(**item), "execution_id": execution_id, "payload_schema": PAYLOAD_SCHEMA}
    webhook = params["event_type"] in WEBHOOK_EVENT_TYPES
    sql, order = _driver_sql(_APPEND_ALONE_WITH_OUTBOX if webhook else _APPEND_ALONE, conn)
    values = tuple(params[name] for name in order)
    # the driver's own connection: no transaction is open on it, so the statement commits
    # alone, and none of SQLAlchemy's per-statement work runs (most of a lone event's CPU)
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None, "a checked-out connection has its driver connection"

    async def run() -> Any:
        try:
            return await driver.fetchrow(sql, *values)
        except BaseException as err:
            if _connection_gone(err, driver):
                # not reused (SQLAlchemy would also invalidate the rest of the pool; here the
                # next statement SQLAlchemy runs on a stale connection does that)
                await conn.invalidate(err if isinstance(err, Exception) else None)
            raise

    inserted, existing, stream, _bumped = await _retried_after_a_same_id_race(run)
    return _landed(eid, execution_id, inserted, existing, stream)


def _connection_gone(err: BaseException, driver: Any) -> bool:
    """Whether the driver connection is unusable after `err`: closed or interrupted
    ("another operation is in progress", cancelled mid-statement), or a server error of
    class 08 (connection exception) or 57P (the server shut it down or terminated it). Any
    other server error (a lost same-id race) leaves it fine."""
    if not isinstance(err, asyncpg.PostgresError) or driver.is_closed():
        return True
    return str(err.sqlstate or "").startswith(("08", "57P"))


_DRIVER_SQL: dict[tuple[int, str], tuple[str, tuple[str, ...]]] = {}


def _driver_sql(statement: Any, conn: AsyncConnection) -> tuple[str, tuple[str, ...]]:
    """`statement` compiled once for the connection's driver, with its parameter names in
    order (the one-event append runs on the driver itself)."""
    key = (id(statement), conn.dialect.name + conn.dialect.driver)
    if key not in _DRIVER_SQL:
        compiled = statement.compile(dialect=conn.dialect)
        _DRIVER_SQL[key] = (str(compiled), tuple(compiled.positiontup or ()))
    return _DRIVER_SQL[key]


async def _retried_after_a_same_id_race(run: Callable[[], Awaitable[_T]]) -> _T:
    """Run an append that fails as a whole when another writer committed one of its ids
    after the statement's snapshot; run once more, and the retry finds the id stored."""
    try:
        return await run()
    except IntegrityError as exc:  # a statement SQLAlchemy ran
        if "execution_events_pkey" not in str(exc.orig):
            raise
    except asyncpg.UniqueViolationError as exc:  # one the driver ran
        if exc.constraint_name != "execution_events_pkey":
            raise
    return await run()


async def read_after(
    session: AsyncSession, execution_id: uuid.UUID, after_seq: int = 0, limit: int = 100
) -> list[StoredEvent]:
    """Events of the stream with sequence number > `after_seq`, in order, at most `limit`."""
    conn = await session.connection()
    stmt = (
        select(_events)
        .where(
            _events.c.feature_execution_id == execution_id,
            _events.c.sequence_number > after_seq,
        )
        .order_by(_events.c.sequence_number)
        .limit(limit)
    )
    return [
        StoredEvent(
            id=r.id,
            execution_id=r.feature_execution_id,
            event_type=r.event_type,
            sequence_number=int(r.sequence_number),
            timestamp=r.timestamp,
            causation_id=r.causation_id,
            correlation_id=r.correlation_id,
            payload=json.loads(r.payload),
            payload_schema=r.payload_schema,
            producer_id=r.producer_id,
            tags=r.tags or {},
            created_at=r.created_at,
        )
        for r in (await conn.execute(stmt)).all()
    ]


async def latest_sequence(session: AsyncSession, execution_id: uuid.UUID) -> int:
    """The highest committed sequence number of the stream (0 when empty); NotFound if the
    execution does not exist. The cursor equals it because the sequence is gap-free."""
    conn = await session.connection()
    cursor = (
        await conn.execute(
            select(FeatureExecutionRow.sequence_cursor).where(
                FeatureExecutionRow.id == execution_id
            )
        )
    ).scalar_one_or_none()
    if cursor is None:
        raise NotFound(f"feature execution {execution_id} not found")
    return int(cursor)


class EventStore:
    """The event store bound to one session (what the unit of work exposes as `events`).

    `stage` queues an event and `flush` appends every queued event in one statement per
    stream; the unit of work flushes right before it commits. Staging keeps the stream's row
    lock (taken by the append) to the last moment of the transaction, so slow work earlier in
    it (artifact uploads, many row writes) never blocks other writers of the stream, and N
    events cost one round trip instead of N.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._staged: dict[uuid.UUID, list[dict[str, Any]]] = {}

    def stage(
        self,
        execution_id: uuid.UUID,
        event_type: str,
        payload: dict[str, Any],
        *,
        producer_id: str,
        event_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        tags: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> uuid.UUID:
        """Queue an event for `flush` (same contract as `append`); returns its id."""
        eid = event_id or new_event_id()
        self._staged.setdefault(execution_id, []).append(
            {"event_id": eid, "event_type": event_type, "payload": payload,
             "producer_id": producer_id, "causation_id": causation_id,
             "correlation_id": correlation_id, "tags": tags, "timestamp": timestamp}
        )  # fmt: skip
        return eid

    @property
    def staged(self) -> int:
        return sum(len(items) for items in self._staged.values())

    @property
    def streams(self) -> int:
        """How many streams have staged events."""
        return len(self._staged)

    async def flush_autocommitted(self, conn: AsyncConnection) -> list[AppendedEvent]:
        """Append the staged events of one stream as a transaction of their own, on a
        connection in AUTOCOMMIT: the statement alone, without BEGIN and COMMIT round
        trips. For a unit of work that did nothing else (a bookkeeping event)."""
        if len(self._staged) != 1:
            raise ValueError("an autocommitted flush appends to exactly one stream")
        staged, self._staged = self._staged, {}
        ((execution_id, items),) = staged.items()
        if len(items) == 1:
            return [await _append_one_autocommitted(conn, execution_id, items[0])]
        batch = [_batch_item(**item) for item in items]
        results = await _append_autocommitted(conn, execution_id, batch, whole=True)
        outcome = _settled(execution_id, batch, results)
        # a foreign id stored none of the batch: say so, not that the others went missing
        failures = sorted(
            (item for item in outcome if isinstance(item, Exception)),
            key=lambda e: not isinstance(e, Conflict),
        )
        if failures:
            raise failures[0]
        return [item for item in outcome if isinstance(item, AppendedEvent)]

    async def flush(self) -> list[AppendedEvent]:
        """Append every staged event, in staging order per stream. NotFound / Conflict as
        `append`; on an error nothing staged is kept, and the caller's transaction is
        unusable as with any failed statement."""
        staged, self._staged = self._staged, {}
        appended: list[AppendedEvent] = []
        for execution_id, items in staged.items():
            if len(items) == 1:
                # the common case (one bookkeeping event per unit of work): the single-event
                # statement settles a concurrent same-id writer without a savepoint, two
                # round trips fewer than the batch
                appended.append(await append(self.session, execution_id, **items[0]))
            else:
                batch = [_batch_item(**item) for item in items]
                appended += await append_batch(self.session, execution_id, batch)
        return appended

    async def append(
        self,
        execution_id: uuid.UUID,
        event_type: str,
        payload: dict[str, Any],
        *,
        producer_id: str,
        event_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        tags: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> AppendedEvent:
        return await append(
            self.session,
            execution_id,
            event_type,
            payload,
            producer_id=producer_id,
            event_id=event_id,
            causation_id=causation_id,
            correlation_id=correlation_id,
            tags=tags,
            timestamp=timestamp,
        )

    async def read_after(
        self, execution_id: uuid.UUID, after_seq: int = 0, limit: int = 100
    ) -> list[StoredEvent]:
        return await read_after(self.session, execution_id, after_seq, limit)

    async def latest_sequence(self, execution_id: uuid.UUID) -> int:
        return await latest_sequence(self.session, execution_id)


# One statement: dedupe against stored ids and within the batch, bump the cursor by the
# number of new events, number them in arrival order, insert. A concurrent writer of the
# same id from another process makes the insert fail as a whole; the batch is then retried
# and finds the id stored. Inside a transaction (`in_transaction`) a failed statement would
# end the transaction, so there the insert skips such an id (ON CONFLICT) and one more row,
# id NULL, says the cursor was bumped: append_batch then undoes the statement and runs it
# again (_undo_lost_race).
_APPEND_BATCH_SQL = """
WITH input AS (
    SELECT * FROM unnest(
        CAST(:ids AS uuid[]), CAST(:event_types AS text[]), CAST(:timestamps AS timestamptz[]),
        CAST(:causation_ids AS uuid[]), CAST(:correlation_ids AS uuid[]),
        CAST(:payloads AS bytea[]), CAST(:producer_ids AS text[]), CAST(:tags AS text[])
    ) WITH ORDINALITY AS i(id, event_type, ts, causation_id, correlation_id, payload,
                           producer_id, tags, ord)
), existing AS (
    SELECT e.id, e.feature_execution_id, e.sequence_number
    FROM execution_events e WHERE e.id IN (SELECT id FROM input)
), fresh AS (
    SELECT DISTINCT ON (id) * FROM input
    WHERE id NOT IN (SELECT id FROM existing) ORDER BY id, ord
), numbered AS (
    SELECT f.*, row_number() OVER (ORDER BY ord) AS n, count(*) OVER () AS total FROM fresh f
), bump AS (
    UPDATE feature_executions
    SET sequence_cursor = sequence_cursor + (SELECT count(*) FROM numbered)
    WHERE id = CAST(:execution_id AS uuid) AND EXISTS (SELECT 1 FROM numbered){whole}
    RETURNING sequence_cursor
), inserted AS (
    INSERT INTO execution_events (
        id, feature_execution_id, event_type, sequence_number, timestamp, causation_id,
        correlation_id, payload, payload_schema, producer_id, tags)
    SELECT n.id, CAST(:execution_id AS uuid), n.event_type, b.sequence_cursor - n.total + n.n,
           COALESCE(n.ts, clock_timestamp()), n.causation_id, n.correlation_id, n.payload,
           :payload_schema, n.producer_id, CAST(n.tags AS jsonb)
    FROM numbered n CROSS JOIN bump b{on_conflict}
    RETURNING {returning}
){outbox}
SELECT id, sequence_number, true AS created, CAST(:execution_id AS uuid) AS stream
FROM inserted
UNION ALL
SELECT id, sequence_number, false, feature_execution_id FROM existing{bumped}
"""
# With `whole`, an id stored in another stream makes the statement insert nothing at all:
# for a unit of work's events committed on their own, which must land all or none.
_FOREIGN_GUARD = """
      AND NOT EXISTS (
          SELECT 1 FROM existing WHERE feature_execution_id <> CAST(:execution_id AS uuid))"""


_BUMPED_ROW = """
UNION ALL
SELECT NULL, sequence_cursor, NULL, NULL FROM bump"""


def _batch_sql(*, outbox: bool, whole: bool, in_transaction: bool = False) -> Any:
    return text(
        _APPEND_BATCH_SQL.format(
            whole=_FOREIGN_GUARD if whole else "",
            on_conflict="\n    ON CONFLICT (id) DO NOTHING" if in_transaction else "",
            returning=OUTBOX_RETURNING if outbox else "id, sequence_number",
            outbox=", " + outbox_cte("CAST(:execution_id AS uuid)") if outbox else "",
            bumped=_BUMPED_ROW if in_transaction else "",
        )
    )


_APPEND_BATCH = {
    (outbox, whole): _batch_sql(outbox=outbox, whole=whole)
    for outbox in (False, True)
    for whole in (False, True)
}
_APPEND_BATCH_IN_TRANSACTION = {
    outbox: _batch_sql(outbox=outbox, whole=False, in_transaction=True) for outbox in (False, True)
}

# Only after losing a same-id race inside a transaction: it still holds the stream's row
# lock (its bump), so deleting what the statement inserted (events, their outbox messages)
# and taking its bump back leave the stream as the statement found it.
_UNDO_BATCH = text(
    """
WITH gone AS (
    DELETE FROM execution_events WHERE id = ANY(CAST(:ids AS uuid[]))
), messages_gone AS (
    DELETE FROM webhook_messages
    WHERE event_id = ANY(CAST(:ids AS uuid[]))
      AND feature_execution_id = CAST(:execution_id AS uuid)
)
UPDATE feature_executions SET sequence_cursor = sequence_cursor - :bumped
WHERE id = CAST(:execution_id AS uuid)
"""
).bindparams(bindparam("bumped", type_=Integer))
_RACE_ATTEMPTS = 3


def _batch_item(
    event_id: uuid.UUID,
    event_type: str,
    payload: dict[str, Any],
    producer_id: str,
    causation_id: uuid.UUID | None,
    correlation_id: uuid.UUID | None,
    tags: dict[str, Any] | None,
    timestamp: datetime | None,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "event_type": str(event_type),
        "timestamp": timestamp,
        "causation_id": causation_id,
        "correlation_id": correlation_id,
        "payload": encode_payload(payload),
        "producer_id": producer_id,
        "tags": json.dumps(tags or {}),
    }


def _batch_params(execution_id: uuid.UUID, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "payload_schema": PAYLOAD_SCHEMA,
        "ids": [i["id"] for i in items],
        "event_types": [i["event_type"] for i in items],
        "timestamps": [i["timestamp"] for i in items],
        "causation_ids": [i["causation_id"] for i in items],
        "correlation_ids": [i["correlation_id"] for i in items],
        "payloads": [i["payload"] for i in items],
        "producer_ids": [i["producer_id"] for i in items],
        "tags": [i["tags"] for i in items],
    }


def _settled(
    execution_id: uuid.UUID,
    items: list[dict[str, Any]],
    results: dict[uuid.UUID, tuple[int, bool, uuid.UUID]],
) -> list[AppendedEvent | Exception]:
    """Per item: where it landed, or why not (a duplicate within the batch is a no-op)."""
    out: list[AppendedEvent | Exception] = []
    first_seen: set[uuid.UUID] = set()
    for item in items:
        eid = item["id"]
        found = results.get(eid)
        if found is None:
            out.append(NotFound(f"feature execution {execution_id} not found"))
            continue
        seq, created, stream = found
        if stream != execution_id:
            out.append(Conflict(f"event id {eid} already belongs to feature execution {stream}"))
            continue
        out.append(AppendedEvent(eid, seq, created and eid not in first_seen))
        first_seen.add(eid)
    return out


def _batch_statement(items: list[dict[str, Any]], *, whole: bool = False) -> Any:
    """The batch append, with the webhook outbox CTE only when an item is eligible."""
    return _APPEND_BATCH[any(i["event_type"] in WEBHOOK_EVENT_TYPES for i in items), whole]


async def append_batch(
    session: AsyncSession, execution_id: uuid.UUID, items: list[dict[str, Any]]
) -> list[AppendedEvent]:
    """Append several events to one stream in one statement inside the caller's
    transaction, without a savepoint (two round trips fewer). An id that a concurrent
    transaction stored after the statement's snapshot is skipped by the insert; the
    statement is then undone and run again, and finds the id stored."""
    params = _batch_params(execution_id, items)
    webhook = any(i["event_type"] in WEBHOOK_EVENT_TYPES for i in items)
    conn = await session.connection()
    for attempt in range(_RACE_ATTEMPTS):
        rows = (await conn.execute(_APPEND_BATCH_IN_TRANSACTION[webhook], params)).all()
        results = {
            r.id: (int(r.sequence_number), bool(r.created), r.stream)
            for r in rows
            if r.id is not None
        }
        bumped = any(r.id is None for r in rows)
        if not bumped or all(i["id"] in results for i in items):
            break
        await _undo_lost_race(conn, execution_id, items, results)
        if attempt == _RACE_ATTEMPTS - 1:
            raise LostRace(f"appending to feature execution {execution_id} lost same-id races")
    outcome = _settled(execution_id, items, results)
    for item in outcome:
        if isinstance(item, Exception):
            raise item
    return [item for item in outcome if isinstance(item, AppendedEvent)]


class LostRace(Exception):
    """A batch lost a same-id race to a concurrent writer on every attempt; nothing of
    it is stored and the caller's transaction goes on (an activity's retry finds the ids)."""


async def _undo_lost_race(
    conn: AsyncConnection,
    execution_id: uuid.UUID,
    items: list[dict[str, Any]],
    results: dict[uuid.UUID, tuple[int, bool, uuid.UUID]],
) -> None:
    """Take back a batch statement that skipped a raced id: the rows it inserted and
    its bump, one per id it found new (the inserted ones and the skipped ones)."""
    inserted = [eid for eid, (_seq, created, _stream) in results.items() if created]
    stored_before = {eid for eid, (_seq, created, _stream) in results.items() if not created}
    bumped = len({i["id"] for i in items} - stored_before)
    await conn.execute(
        _UNDO_BATCH, {"ids": inserted, "bumped": bumped, "execution_id": execution_id}
    )


@dataclass
class _Pending:
    params: dict[str, Any]
    done: asyncio.Future[AppendedEvent]


class EventLog:
    """Appends that commit themselves, grouped per stream (one statement per batch)."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500) -> None:
        # AUTOCOMMIT: each batch statement is its own implicit transaction, no BEGIN/COMMIT
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._max_batch = max_batch
        self._queues: dict[uuid.UUID, list[_Pending]] = {}
        self._flushers: set[asyncio.Task[None]] = set()

    async def append(
        self,
        execution_id: uuid.UUID,
        event_type: str,
        payload: dict[str, Any],
        *,
        producer_id: str,
        event_id: uuid.UUID | None = None,
        causation_id: uuid.UUID | None = None,
        correlation_id: uuid.UUID | None = None,
        tags: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> AppendedEvent:
        """Append and commit; returns once the event is durable. Same contract and errors
        as `persistence.events.append`."""
        pending = _Pending(
            _batch_item(event_id or new_event_id(), event_type, payload, producer_id,
                        causation_id, correlation_id, tags, timestamp),
            asyncio.get_running_loop().create_future(),
        )  # fmt: skip
        queue = self._queues.get(execution_id)
        if queue is None:
            self._queues[execution_id] = [pending]
            # the flusher is its own task so a cancelled caller never strands the others
            task = asyncio.create_task(self._flush(execution_id))
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        else:
            # a flush of this stream is running: ride along in its next batch
            queue.append(pending)
        return await pending.done

    async def _flush(self, execution_id: uuid.UUID) -> None:
        queue = self._queues[execution_id]
        try:
            await self._drain(execution_id, queue)
        finally:
            del self._queues[execution_id]
            for p in queue:
                if not p.done.done():
                    p.done.set_exception(RuntimeError("event log flusher stopped"))

    async def _drain(self, execution_id: uuid.UUID, queue: list[_Pending]) -> None:
        # one connection for the whole burst: the checkout is paid once, not per batch
        conn: AsyncConnection | None = None
        try:
            while queue:
                batch = queue[: self._max_batch]
                del queue[: self._max_batch]
                try:
                    conn = conn or await self._engine.connect()
                    results = await self._write(conn, execution_id, batch)
                except Exception as exc:  # every waiter of the failed batch learns why
                    if conn is not None:
                        # back to the pool; a broken one is invalidated (disconnect errors)
                        await conn.close()
                        conn = None
                    for p in batch:
                        if not p.done.done():
                            p.done.set_exception(exc)
                    continue
                self._settle(execution_id, batch, results)
        finally:
            if conn is not None:
                await conn.close()

    def _settle(
        self,
        execution_id: uuid.UUID,
        batch: list[_Pending],
        results: dict[uuid.UUID, tuple[int, bool, uuid.UUID]],
    ) -> None:
        # a cancelled caller's write stands; it still counts as the first of its id
        live = [p for p in batch if not p.done.done()]
        cancelled = {p.params["id"] for p in batch if p.done.done()}
        outcome = _settled(execution_id, [p.params for p in live], results)
        for p, result in zip(live, outcome, strict=True):
            if isinstance(result, Exception):
                p.done.set_exception(result)
            elif result.id in cancelled:
                p.done.set_result(AppendedEvent(result.id, result.sequence_number, False))
            else:
                p.done.set_result(result)

    async def _write(
        self, conn: AsyncConnection, execution_id: uuid.UUID, batch: list[_Pending]
    ) -> dict[uuid.UUID, tuple[int, bool, uuid.UUID]]:
        return await _append_autocommitted(conn, execution_id, [p.params for p in batch])


async def _append_autocommitted(
    conn: AsyncConnection,
    execution_id: uuid.UUID,
    items: list[dict[str, Any]],
    *,
    whole: bool = False,
) -> dict[uuid.UUID, tuple[int, bool, uuid.UUID]]:
    """The batch append as a transaction of its own (`conn` in AUTOCOMMIT): one round trip.
    A failed statement changes nothing, so losing a same-id race needs no savepoint: the
    retry finds the stored id. With `whole`, an id of another stream stores none of them."""
    params = _batch_params(execution_id, items)
    statement = _batch_statement(items, whole=whole)

    async def run() -> Any:
        return (await conn.execute(statement, params)).all()

    rows = await _retried_after_a_same_id_race(run)
    return {r.id: (int(r.sequence_number), bool(r.created), r.stream) for r in rows}


__all__ = [
    "AppendedEvent",
    "EventLog",
    "EventStore",
    "StoredEvent",
    "append",
    "append_batch",
    "latest_sequence",
    "new_event_id",
    "read_after",
]

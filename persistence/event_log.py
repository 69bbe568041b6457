"""Self-committing event appends with group commit, for high-rate writers of one stream.

`events.append` runs inside the caller's transaction, so the stream's row lock is held
across client round trips until the caller commits: one stream then sustains only a few
hundred appends per second. `EventLog.append` instead commits on its own, and concurrent
appends to one stream in this process are coalesced into a single statement (one implicit
transaction, one WAL flush), so the row lock is held only inside the server and the cost of
a commit is shared by the whole batch. Numbers stay gap-free and an existing id stays a
no-op, exactly as with `events.append`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import Conflict, NotFound
from domain.events import PAYLOAD_SCHEMA
from persistence.events import AppendedEvent, encode_payload, new_event_id

# One statement: dedupe against stored ids and within the batch, bump the cursor by the
# number of new events, number them in arrival order, insert. A concurrent writer of the
# same id from another process makes the insert fail as a whole; the batch is then retried
# and finds the id stored.
_APPEND_BATCH = text(
    """
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
    WHERE id = CAST(:execution_id AS uuid) AND EXISTS (SELECT 1 FROM numbered)
    RETURNING sequence_cursor
), inserted AS (
    INSERT INTO execution_events (
        id, feature_execution_id, event_type, sequence_number, timestamp, causation_id,
        correlation_id, payload, payload_schema, producer_id, tags)
    SELECT n.id, CAST(:execution_id AS uuid), n.event_type, b.sequence_cursor - n.total + n.n,
           COALESCE(n.ts, clock_timestamp()), n.causation_id, n.correlation_id, n.payload,
           :payload_schema, n.producer_id, CAST(n.tags AS jsonb)
    FROM numbered n CROSS JOIN bump b
    RETURNING id, sequence_number
)
SELECT id, sequence_number, true AS created, CAST(:execution_id AS uuid) AS stream
FROM inserted
UNION ALL
SELECT id, sequence_number, false, feature_execution_id FROM existing
"""
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
            {
                "id": event_id or new_event_id(),
                "event_type": str(event_type),
                "timestamp": timestamp,
                "causation_id": causation_id,
                "correlation_id": correlation_id,
                "payload": encode_payload(payload),
                "producer_id": producer_id,
                "tags": json.dumps(tags or {}),
            },
            asyncio.get_running_loop().create_future(),
        )
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
        # one connection for the whole burst: checkout and pre-ping are paid once, not per batch
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
                        # back to the pool, whose pre-ping weeds it out if it is broken
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
        first_seen: set[uuid.UUID] = set()
        for p in batch:
            eid = p.params["id"]
            if p.done.done():  # its caller was cancelled; the write stands
                first_seen.add(eid)
                continue
            found = results.get(eid)
            if found is None:
                p.done.set_exception(NotFound(f"feature execution {execution_id} not found"))
                continue
            seq, created, stream = found
            if stream != execution_id:
                p.done.set_exception(
                    Conflict(f"event id {eid} already belongs to feature execution {stream}")
                )
                continue
            # a duplicate within the batch is a no-op, like a re-append
            p.done.set_result(AppendedEvent(eid, seq, created and eid not in first_seen))
            first_seen.add(eid)

    async def _write(
        self, conn: AsyncConnection, execution_id: uuid.UUID, batch: list[_Pending]
    ) -> dict[uuid.UUID, tuple[int, bool, uuid.UUID]]:
        params: dict[str, Any] = {
            "execution_id": execution_id,
            "payload_schema": PAYLOAD_SCHEMA,
            "ids": [p.params["id"] for p in batch],
            "event_types": [p.params["event_type"] for p in batch],
            "timestamps": [p.params["timestamp"] for p in batch],
            "causation_ids": [p.params["causation_id"] for p in batch],
            "correlation_ids": [p.params["correlation_id"] for p in batch],
            "payloads": [p.params["payload"] for p in batch],
            "producer_ids": [p.params["producer_id"] for p in batch],
            "tags": [p.params["tags"] for p in batch],
        }
        for attempt in (1, 2):
            try:
                rows = (await conn.execute(_APPEND_BATCH, params)).all()
                return {r.id: (int(r.sequence_number), bool(r.created), r.stream) for r in rows}
            except IntegrityError as exc:
                # another process committed one of these ids after our snapshot
                if attempt == 2 or "execution_events_pkey" not in str(exc.orig):
                    raise
        raise AssertionError("unreachable")

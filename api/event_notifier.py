"""One shared watcher per process, waking SSE streams when their execution gets events.

Every append bumps the execution's `sequence_cursor` in the same transaction, so a cursor
that moved is a committed event. While any stream is open, one task polls the cursors of
the watched executions (one indexed query for all of them, every `interval` seconds) and
wakes the subscribers of each one that moved; the stream then reads the new events from
the table, so a wake-up carries no data that could be lost.

This replaced a per-row NOTIFY trigger: NOTIFY takes a database-wide lock from its
transaction's pre-commit until the commit is flushed, so every event-writing transaction
of every execution was serialised behind one WAL flush at a time (about a third of the
append rate across 50 concurrent executions; docs/performance.md). Polling costs one small
query per interval per API process, only while someone is watching.

A subscriber's first poll always wakes it (it may have read the table just before an
append the poller never saw move). When the connection drops the next poll reconnects; the
cursors remembered from before show whatever was committed meanwhile, so nothing is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg

log = logging.getLogger(__name__)

_CURSORS = "SELECT id, sequence_cursor FROM feature_executions WHERE id = ANY($1::uuid[])"
# well under the SSE delivery target (p99 < 50 ms) and one cheap query per tick
DEFAULT_INTERVAL_SECONDS = 0.01
_RECONNECT_DELAY_SECONDS = 0.5


def _asyncpg_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class EventNotifier:
    """Wakes subscribers of an execution when one of its events is committed."""

    def __init__(self, database_url: str, *, interval: float = DEFAULT_INTERVAL_SECONDS) -> None:
        self._dsn = _asyncpg_dsn(database_url)
        self._interval = interval
        self._conn: asyncpg.Connection | None = None
        self._subscribers: dict[uuid.UUID, set[asyncio.Event]] = {}
        self._seen: dict[uuid.UUID, int] = {}  # the cursor each watched execution was at
        self._poller: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _wake(self, execution_id: uuid.UUID) -> None:
        for waiter in self._subscribers.get(execution_id, ()):
            waiter.set()

    async def _poll_once(self) -> None:
        if not self.connected:
            self._conn = await asyncpg.connect(self._dsn)
        assert self._conn is not None
        watched = list(self._subscribers)
        rows = await self._conn.fetch(_CURSORS, watched)
        for row in rows:
            execution_id, cursor = row["id"], int(row["sequence_cursor"])
            if self._seen.get(execution_id) != cursor:
                self._seen[execution_id] = cursor
                self._wake(execution_id)

    async def _poll(self) -> None:
        while self._subscribers:
            try:
                await self._poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poller must outlive any database trouble
                log.warning("event notifier cannot poll: %s", type(exc).__name__)
                await self._drop_connection()
                await asyncio.sleep(_RECONNECT_DELAY_SECONDS)
                continue
            await asyncio.sleep(self._interval)

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close()

    def _ensure_polling(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    @contextlib.asynccontextmanager
    async def subscribe(self, execution_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the execution gets new events. The first poll after
        subscribing sets it too, so nothing committed around the caller's first read is
        missed."""
        waiter = asyncio.Event()
        self._subscribers.setdefault(execution_id, set()).add(waiter)
        self._seen.pop(execution_id, None)  # the next poll wakes this subscriber
        self._ensure_polling()
        try:
            yield waiter
        finally:
            waiters = self._subscribers.get(execution_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._subscribers[execution_id]
                    self._seen.pop(execution_id, None)

    async def close(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await poller
        await self._drop_connection()

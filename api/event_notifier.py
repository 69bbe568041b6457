"""One shared Postgres LISTEN connection per process, fanning `builder_events` out to streams.

A trigger on `execution_events` sends "<execution_id>:<sequence>" on every insert. Each SSE
stream subscribes to its execution and is woken when a notification for it arrives; it then
reads the new events from the table, so a notification carries no data that could be lost.
When the connection drops, every subscriber is woken (to re-read) and the next subscription
reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

CHANNEL = "builder_events"

log = logging.getLogger(__name__)


def _asyncpg_dsn(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class EventNotifier:
    """Wakes subscribers of an execution when one of its events is committed."""

    def __init__(self, database_url: str) -> None:
        self._dsn = _asyncpg_dsn(database_url)
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._subscribers: dict[uuid.UUID, set[asyncio.Event]] = {}

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def _ensure_listening(self) -> None:
        if self.connected:
            return
        async with self._lock:
            if self.connected:
                return
            conn = await asyncpg.connect(self._dsn)
            conn.add_termination_listener(self._on_terminated)
            await conn.add_listener(CHANNEL, self._on_notify)
            self._conn = conn

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        execution, _, _seq = payload.partition(":")
        try:
            execution_id = uuid.UUID(execution)
        except ValueError:
            return
        for waiter in self._subscribers.get(execution_id, ()):
            waiter.set()

    def _on_terminated(self, _conn: Any) -> None:
        self._conn = None
        # notifications may have been lost: everyone re-reads the table
        for waiters in self._subscribers.values():
            for waiter in waiters:
                waiter.set()

    @contextlib.asynccontextmanager
    async def subscribe(self, execution_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set whenever the execution gets new events; listening starts before
        the caller's first read, so nothing committed after that read is missed."""
        waiter = asyncio.Event()
        self._subscribers.setdefault(execution_id, set()).add(waiter)
        try:
            await self._ensure_listening()
            yield waiter
        finally:
            waiters = self._subscribers.get(execution_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._subscribers[execution_id]

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close()

"""Async engine and session factory.

One engine per process; sessions never expire on commit so rows stay readable after the
unit of work ends.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker


def async_url(url: str) -> str:
    """Normalise a Postgres URL to the asyncpg driver."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError("database URL must be a postgresql:// URL")


def create_engine(
    url: str,
    *,
    pool_size: int = 30,
    max_overflow: int = 0,
    application_name: str = "builder",
) -> AsyncEngine:
    """An asyncpg engine with a bounded pool; a connection idle for PING_AFTER_IDLE_S or
    more is checked before use (see ping_idle_connections).

    `application_name` names the process in pg_stat_activity (builder-worker, builder-api),
    so an operator sees who holds which connection. `create_async_engine` is looked up at
    call time so tracing's instrumentation of it (builder/observability/tracing.py) applies
    to engines created after it is set up."""
    engine = sa_asyncio.create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": application_name}},
    )
    ping_idle_connections(engine)
    return engine


# a connection back in the pool for less than this is used without a check
PING_AFTER_IDLE_S = 5.0
_IDLE_SINCE = "builder_idle_since"


def ping_idle_connections(engine: AsyncEngine) -> None:
    """Check a pooled connection before use only when it sat idle.

    SQLAlchemy's `pool_pre_ping` checks every checkout, and asyncpg's check is three round
    trips (BEGIN, an empty query, ROLLBACK): under load that was a third of the worker's
    Postgres messages, on connections used milliseconds before. A connection that went
    stale in the last few seconds (Postgres restarted) fails on its first statement
    instead; SQLAlchemy then invalidates the whole pool and the activity's retry gets new
    connections."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _checked_in(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return  # new, or back in the pool a moment ago
        try:
            dbapi.ping()
        except Exception as err:
            # the pool drops this connection and checks out another
            raise exc.DisconnectionError(str(err)) from err


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)

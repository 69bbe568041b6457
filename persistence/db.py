"""Async engine and session factory.

One engine per process; sessions never expire on commit so rows stay readable after the
unit of work ends.
"""

from __future__ import annotations

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
    pool_size: int = 10,
    max_overflow: int = 20,
    application_name: str = "builder",
) -> AsyncEngine:
    """An asyncpg engine with a bounded pool; connections are checked before use.

    `application_name` names the process in pg_stat_activity (builder-worker, builder-api),
    so an operator sees who holds which connection. `create_async_engine` is looked up at
    call time so tracing's instrumentation of it (builder/observability/tracing.py) applies
    to engines created after it is set up."""
    return sa_asyncio.create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": application_name}},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)

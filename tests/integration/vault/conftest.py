"""Helpers of the vault tests: keyrings, parent rows, and a private database for rotation."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.tables import RepositoryRow
from persistence.vault import Keyring
from tests.fixtures.postgres import create_database, drop_database


def make_keyring(*key_ids: str) -> Keyring:
    """A keyring of fresh random keys; the last id is primary."""
    spec = ",".join(f"{k}:{base64.b64encode(secrets.token_bytes(32)).decode()}" for k in key_ids)
    return Keyring.parse(spec)


async def add_repository(session: AsyncSession, tenant_id: uuid.UUID) -> uuid.UUID:
    """Insert a repository row of the tenant and return its id."""
    row = RepositoryRow(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=f"repo-{uuid.uuid4().hex[:8]}",
        url="https://git.example.com/acme/app.git",
    )
    session.add(row)
    await session.flush()
    return row.id


@pytest.fixture
def keyring() -> Keyring:
    return make_keyring("k1")


@pytest.fixture
async def private_sessions(
    postgres_server_url: str,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A freshly migrated database of this test alone (rotation touches every row)."""
    url = await asyncio.to_thread(create_database, postgres_server_url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url, pool_size=4, max_overflow=4)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
        await asyncio.to_thread(drop_database, postgres_server_url, url)

"""Signing secrets are vault envelopes bound to their subscription, and vault key rotation
re-wraps them like credentials."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.db import create_engine, session_factory
from persistence.migrate import upgrade
from persistence.tables import WebhookSecretRow
from persistence.vault import Keyring
from persistence.webhooks import claim_due, rotate_secret_keys
from tests.fixtures.postgres import create_database, drop_database
from tests.integration.webhooks.conftest import completed_execution_event, subscribe


@pytest.fixture
async def own_database(postgres_server_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A database of its own: rotation re-wraps every secret, other tests' included."""
    url = await asyncio.to_thread(create_database, postgres_server_url)
    await asyncio.to_thread(upgrade, url)
    engine = create_engine(url, pool_size=2, max_overflow=0)
    yield session_factory(engine)
    await engine.dispose()
    await asyncio.to_thread(drop_database, postgres_server_url, url)


async def test_key_rotation_rewraps_webhook_secrets_and_deliveries_still_sign(
    own_database: async_sessionmaker[AsyncSession],
) -> None:
    sessions = own_database
    old = Keyring({"old": os.urandom(32)}, "old")
    tenant = uuid.uuid4()
    sub, secret = await subscribe(sessions, old, tenant, "https://hooks.example.com/x")
    await completed_execution_event(sessions, tenant)
    both = Keyring({"old": old.key("old"), "new": os.urandom(32)}, "new")

    assert await rotate_secret_keys(sessions, both) == 1

    async with sessions() as session:
        row = (
            await session.scalars(
                select(WebhookSecretRow).where(WebhookSecretRow.subscription_id == sub.id)
            )
        ).one()
    assert row.encryption_key_id == "new" and secret not in row.encrypted_data
    only_new = Keyring({"new": both.key("new")}, "new")
    claims = await claim_due(sessions, only_new, "test", limit=50, lease_seconds=5)
    assert [c.secrets for c in claims if c.subscription_id == sub.id] == [(secret,)]


async def test_a_secret_the_vault_cannot_open_fails_that_delivery_only(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring
) -> None:
    lost = Keyring({"lost": os.urandom(32)}, "lost")
    tenant = uuid.uuid4()
    orphan, _ = await subscribe(sessions, lost, tenant, "https://hooks.example.com/a")
    fine, secret = await subscribe(sessions, webhook_keyring, tenant, "https://hooks.example.com/b")
    await completed_execution_event(sessions, tenant)

    claims = await claim_due(sessions, webhook_keyring, "test", limit=100, lease_seconds=5)

    mine = {c.subscription_id: c for c in claims if c.tenant_id == tenant}
    assert mine[fine.id].secrets == (secret,) and mine[fine.id].secret_error is None
    assert mine[orphan.id].secrets == () and "lost" in (mine[orphan.id].secret_error or "")

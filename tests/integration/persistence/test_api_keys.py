"""API keys: shown once, stored hashed, authenticate until revoked."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import NotFound, ValidationFailed
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import new_tenant


async def test_a_new_key_authenticates_its_tenant_and_only_its_hash_is_stored(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    async with UnitOfWork(sessions) as uow:
        issued = await uow.api_keys.create(tenant, "ci")
        await uow.commit()
    plaintext = issued.plaintext.get_secret_value()
    assert plaintext.startswith("bld_") and len(plaintext) > 40
    assert plaintext not in repr(issued)
    assert issued.key_prefix == plaintext[:12]
    async with UnitOfWork(sessions) as uow:
        assert await uow.api_keys.authenticate(plaintext) == tenant
        assert await uow.api_keys.authenticate(plaintext + "x") is None
        assert await uow.api_keys.authenticate("not-a-key") is None
        stored = (
            await uow.session.execute(
                text("SELECT key_hash, key_prefix FROM api_keys WHERE id = :id"), {"id": issued.id}
            )
        ).one()
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in stored


async def test_a_revoked_key_no_longer_authenticates_but_stays_listed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    async with UnitOfWork(sessions) as uow:
        keep = await uow.api_keys.create(tenant, "keep")
        drop = await uow.api_keys.create(tenant, "drop")
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        await uow.api_keys.revoke(tenant, drop.id)
        await uow.api_keys.revoke(tenant, drop.id)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        assert await uow.api_keys.authenticate(drop.plaintext.get_secret_value()) is None
        assert await uow.api_keys.authenticate(keep.plaintext.get_secret_value()) == tenant
        listed = await uow.api_keys.list(tenant)
        with pytest.raises(NotFound, match="api key"):
            await uow.api_keys.revoke(tenant, "not-a-uuid")
        with pytest.raises(ValidationFailed, match="name is required"):
            await uow.api_keys.create(tenant, "")
    assert sorted((k.name, k.revoked_at is not None) for k in listed) == [
        ("drop", True),
        ("keep", False),
    ]

"""Operator administration behind the CLI: API keys of a tenant (`builder keys`: create,
list, revoke) and a tenant's concurrency limit (`builder tenants`: show, override, reset)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.admission import AdmissionRepository, TenantLimit
from persistence.repositories.api_keys import ApiKeyRepository


@dataclass(frozen=True)
class ApiKeyInfo:
    """An API key as the CLI lists it: never the key itself, only its display prefix."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    key_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def create_api_key(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID | str, name: str
) -> tuple[uuid.UUID, str]:
    """Issue a key for the tenant: (key id, plaintext); the plaintext is never stored."""
    async with sessions.begin() as session:
        issued = await ApiKeyRepository(session).create(tenant_id, name)
    return issued.id, issued.plaintext.get_secret_value()


async def list_api_keys(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID | str
) -> list[ApiKeyInfo]:
    """Every key of the tenant (revoked ones too), oldest first."""
    async with sessions() as session:
        rows = await ApiKeyRepository(session).list(tenant_id)
    return [
        ApiKeyInfo(
            id=r.id,
            tenant_id=r.tenant_id,
            name=r.name,
            key_prefix=r.key_prefix,
            created_at=r.created_at,
            last_used_at=r.last_used_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


async def revoke_api_key(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID | str, key_id: uuid.UUID | str
) -> None:
    """Revoke one key of the tenant (NotFound otherwise). Running APIs stop accepting it
    within their auth cache period."""
    async with sessions.begin() as session:
        await ApiKeyRepository(session).revoke(tenant_id, key_id)


async def tenant_limit(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID | str,
    default_limit: int | None,
) -> TenantLimit:
    """The tenant's concurrency limit (override or default) and its slots in use now."""
    async with sessions() as session:
        return await AdmissionRepository(session).describe(tenant_id, default_limit)


async def set_tenant_limit(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID | str,
    limit: int | None,
    default_limit: int | None,
) -> TenantLimit:
    """Override the deployment default for one tenant (None: unlimited). Waiting executions
    are admitted by the new limit at their next poll; running ones are never stopped."""
    async with sessions.begin() as session:
        await AdmissionRepository(session).set_override(tenant_id, limit)
    return await tenant_limit(sessions, tenant_id, default_limit)


async def reset_tenant_limit(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID | str,
    default_limit: int | None,
) -> TenantLimit:
    """Drop the tenant's override: the deployment default applies again."""
    async with sessions.begin() as session:
        await AdmissionRepository(session).clear_override(tenant_id)
    return await tenant_limit(sessions, tenant_id, default_limit)

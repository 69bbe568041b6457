"""API keys: the plaintext is shown once at creation; only its SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import FieldError, NotFound, ValidationFailed
from persistence.repositories.base import as_uuid
from persistence.tables import ApiKeyRow

KEY_PREFIX = "bld_"
_DISPLAY_CHARS = 12


def hash_api_key(plaintext: str) -> str:
    """The stored form of a key: a fast hash is enough for 256 bits of randomness."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedApiKey:
    """A freshly created key; `plaintext` is never stored and never printed."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    key_prefix: str
    plaintext: SecretStr


class ApiKeyRepository:
    """Issue, authenticate, list and revoke the API keys of tenants."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, tenant_id: uuid.UUID | str, name: str) -> IssuedApiKey:
        """Issue a key `bld_<random>` for the tenant; the plaintext is returned only here."""
        if not name or len(name) > 255:
            raise ValidationFailed(
                [FieldError("name", "name is required and must be 255 characters or less")]
            )
        tid = as_uuid(tenant_id, "tenant")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = uuid.uuid4()
        prefix = plaintext[:_DISPLAY_CHARS]
        await self.session.execute(
            insert(ApiKeyRow).values(
                id=key_id,
                tenant_id=tid,
                name=name,
                key_prefix=prefix,
                key_hash=hash_api_key(plaintext),
            )
        )
        return IssuedApiKey(key_id, tid, name, prefix, SecretStr(plaintext))

    async def authenticate(self, plaintext: str) -> uuid.UUID | None:
        """The tenant of a live (not revoked) key, or None for any unknown or revoked key."""
        if not plaintext.startswith(KEY_PREFIX):
            return None
        stmt = select(ApiKeyRow.tenant_id).where(
            ApiKeyRow.key_hash == hash_api_key(plaintext), ApiKeyRow.revoked_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list(self, tenant_id: uuid.UUID | str) -> list[ApiKeyRow]:
        """Every key of the tenant, revoked ones included, oldest first."""
        tid = as_uuid(tenant_id, "tenant")
        stmt = (
            select(ApiKeyRow)
            .where(ApiKeyRow.tenant_id == tid)
            .order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def revoke(self, tenant_id: uuid.UUID | str, key_id: uuid.UUID | str) -> None:
        """Revoke the tenant's key (again is fine, the first time is kept); NotFound otherwise."""
        tid = as_uuid(tenant_id, "tenant")
        kid = as_uuid(key_id, "api key")
        stmt = (
            update(ApiKeyRow)
            .where(ApiKeyRow.id == kid, ApiKeyRow.tenant_id == tid)
            .values(revoked_at=func.coalesce(ApiKeyRow.revoked_at, func.now()))
            .returning(ApiKeyRow.id)
            .execution_options(synchronize_session=False)
        )
        if (await self.session.execute(stmt)).first() is None:
            raise NotFound(f"api key {key_id} not found")

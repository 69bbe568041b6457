"""Bearer API key authentication and per-key rate limiting, as a FastAPI dependency.

Lookups are cached briefly in memory keyed by the key's SHA-256 (never the plaintext), so a
busy client costs one database query per cache period; a revoked key stops working within
`auth_cache_seconds`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from fastapi import Request

from api.deps import ApiDeps
from api.problems import ApiProblem, unauthorized
from api.rate_limit import TokenBuckets, retry_after_header
from persistence.repositories.api_keys import ApiKeyRepository, hash_api_key

_NEGATIVE_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Caller:
    """The authenticated tenant of a request."""

    tenant_id: uuid.UUID
    key_hash: str


class ApiKeyAuthenticator:
    """Resolves `Authorization: Bearer <key>` to a tenant and enforces the rate limit."""

    def __init__(self, deps: ApiDeps) -> None:
        self._deps = deps
        self._cache: dict[str, tuple[uuid.UUID | None, float]] = {}
        self._buckets = TokenBuckets(deps.config.rate_limit_per_minute)

    def forget(self) -> None:
        """Drop cached lookups (after revoking a key in the same process)."""
        self._cache.clear()

    async def _tenant_of(self, key_hash: str, plaintext: str) -> uuid.UUID | None:
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._deps.sessions() as session:
            tenant = await ApiKeyRepository(session).authenticate(plaintext)
        ttl = self._deps.config.auth_cache_seconds if tenant else _NEGATIVE_CACHE_SECONDS
        if len(self._cache) > 10_000:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
        self._cache[key_hash] = (tenant, now + ttl)
        return tenant

    async def __call__(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise unauthorized("send an API key as 'Authorization: Bearer <key>'")
        key_hash = hash_api_key(key)
        tenant = await self._tenant_of(key_hash, key)
        if tenant is None:
            raise unauthorized("the API key is unknown or revoked")
        wait = self._buckets.take(key_hash)
        if wait > 0:
            limit = self._deps.config.rate_limit_per_minute
            raise ApiProblem(
                429,
                "rate-limited",
                "Too many requests",
                f"this API key may make {limit} requests per minute; retry later",
                headers={"Retry-After": retry_after_header(wait)},
            )
        return Caller(tenant_id=tenant, key_hash=key_hash)

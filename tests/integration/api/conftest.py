"""Fixtures of the API tests: the app wired to the real test Postgres, Temporal and store.

Tenants are fresh uuids with their own API key, so tests share one database without
seeing each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.git.config import GitConfig
from activities.git.remote_url import policy_of
from api.admin import create_api_key
from api.app import create_app
from api.config import ApiConfig
from api.deps import ApiDeps
from builder.git_probe import GitRemoteProbe
from persistence.artifacts.local import LocalArtifactStore
from persistence.vault import Keyring

SPEC_CHANGE = {"op": "write_file", "path": "docs/hello.md", "content": "hello\n"}


@dataclass(frozen=True)
class Tenant:
    """A tenant with its API key (as request headers)."""

    id: uuid.UUID
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(scope="session")
def keyring() -> Keyring:
    return Keyring({"test-key": os.urandom(32)}, "test-key")


def git_config(tmp_path: Path) -> GitConfig:
    return GitConfig(
        workspace_root=tmp_path / "ws",
        mirror_root=tmp_path / "mirrors",
        allow_local_remotes=True,
        allow_plain_http=True,
        denied_hosts=(),
    )


def api_config(tmp_path: Path, **overrides: Any) -> ApiConfig:
    values: dict[str, Any] = {
        "remotes": policy_of(git_config(tmp_path)),
        "rate_limit_per_minute": 100_000,
    }
    values.update(overrides)
    return ApiConfig(**values)


AppFactory = Callable[..., FastAPI]


@pytest.fixture
def make_app(
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    temporal_client: Client,
    keyring: Keyring,
    tmp_path: Path,
) -> AppFactory:
    """Build an app; keyword overrides go to ApiConfig, `temporal=` replaces the provider."""

    def make(temporal: Callable[[], Awaitable[Client]] | None = None, **overrides: Any) -> FastAPI:
        async def real_temporal() -> Client:
            return temporal_client

        deps = ApiDeps(
            sessions=sessions,
            temporal=temporal or real_temporal,
            artifacts=LocalArtifactStore(tmp_path / "artifacts"),
            keyring=keyring,
            database_url=database_url,
            config=api_config(tmp_path, **overrides),
            remote_probe=GitRemoteProbe(git_config(tmp_path)),
        )
        return create_app(deps)

    return make


@pytest.fixture
def app(make_app: AppFactory) -> FastAPI:
    return make_app()


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


TenantFactory = Callable[[], Awaitable[Tenant]]


@pytest.fixture
def new_tenant(sessions: async_sessionmaker[AsyncSession]) -> TenantFactory:
    async def make() -> Tenant:
        tenant_id = uuid.uuid4()
        _key_id, plaintext = await create_api_key(sessions, tenant_id, "tests")
        return Tenant(tenant_id, plaintext)

    return make


@pytest.fixture
async def tenant(new_tenant: TenantFactory) -> Tenant:
    return await new_tenant()


async def register_repository(
    client: httpx.AsyncClient, tenant: Tenant, url: str = "https://git.example.com/acme/app.git"
) -> dict[str, Any]:
    response = await client.post(
        "/v1/repositories",
        json={"name": f"repo-{uuid.uuid4().hex[:8]}", "url": url, "default_branch": "main"},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def execution_body(repository_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "repository_id": repository_id,
        "title": "Add a hello page",
        "description": "Adds docs/hello.md with a greeting.",
        "changes": [SPEC_CHANGE],
        "requested_by": "tests",
    }
    body.update(overrides)
    return body

"""GET /v1/limits: the calling tenant's concurrency limit (default or override) and its
running and waiting executions; another tenant's override is not visible."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.admin import set_tenant_limit
from persistence.admission import AdmissionRepository
from tests.integration.api.conftest import AppFactory, TenantFactory, client_for
from tests.integration.persistence.factories import committed_execution, committed_repository


async def test_limits_show_the_default_then_the_tenants_override_and_its_usage(
    make_app: AppFactory,
    new_tenant: TenantFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mine, other = await new_tenant(), await new_tenant()
    async with client_for(make_app(tenant_max_concurrent_executions=4)) as client:
        response = await client.get("/v1/limits", headers=mine.headers)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "max_concurrent_executions": 4, "source": "default", "running": 0, "waiting": 0,
        }  # fmt: skip

        await set_tenant_limit(sessions, mine.id, 1, None)
        repo = await committed_repository(sessions, mine.id)
        rows = [await committed_execution(sessions, repository=repo) for _ in range(3)]
        for row in rows:
            async with sessions.begin() as session:
                await AdmissionRepository(session).try_admit(mine.id, row.id, None)
        response = await client.get("/v1/limits", headers=mine.headers)
        assert response.json() == {
            "max_concurrent_executions": 1, "source": "tenant", "running": 1, "waiting": 2,
        }  # fmt: skip
        theirs = await client.get("/v1/limits", headers=other.headers)
        assert theirs.json()["max_concurrent_executions"] == 4
        assert theirs.json()["source"] == "default"

        await set_tenant_limit(sessions, mine.id, None, None)
        response = await client.get("/v1/limits", headers=mine.headers)
        assert response.json()["max_concurrent_executions"] is None  # unlimited


async def test_limits_need_a_key(make_app: AppFactory) -> None:
    async with client_for(make_app()) as client:
        response: httpx.Response = await client.get("/v1/limits")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")

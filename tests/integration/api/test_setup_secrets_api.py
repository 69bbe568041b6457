"""Setup-only secrets through the API: write-only values, names listed, bad names refused
naming the field without echoing the value, another tenant's repository not found."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.tables import SetupSecretRow
from tests.integration.api.conftest import Tenant, TenantFactory, register_repository

VALUE = "index-token-9f8e7d6c5b4a"


async def test_a_setup_secret_is_write_only_listed_by_name_and_deleted(
    client: httpx.AsyncClient, tenant: Tenant, new_tenant: TenantFactory
) -> None:
    repo = await register_repository(client, tenant)
    base = f"/v1/repositories/{repo['id']}/setup-secrets"

    put = await client.put(f"{base}/INDEX_TOKEN", json={"value": VALUE}, headers=tenant.headers)
    assert put.status_code == 200, put.text
    assert put.json()["name"] == "INDEX_TOKEN" and VALUE not in put.text
    again = await client.put(f"{base}/INDEX_TOKEN", json={"value": VALUE + "2"},
                             headers=tenant.headers)  # fmt: skip
    assert again.status_code == 200

    listed = await client.get(base, headers=tenant.headers)
    assert [s["name"] for s in listed.json()["items"]] == ["INDEX_TOKEN"]
    assert VALUE not in listed.text

    other = await new_tenant()
    assert (await client.get(base, headers=other.headers)).status_code == 404
    stolen = await client.put(f"{base}/X_TOKEN", json={"value": VALUE}, headers=other.headers)
    assert stolen.status_code == 404

    for name, body in (
        ("9LIVES", {"value": VALUE}),
        ("PATH", {"value": VALUE}),
        ("OK_NAME", {"value": ""}),
        ("OK_NAME", {"value": VALUE, "x": 1}),
    ):
        refused = await client.put(f"{base}/{name}", json=body, headers=tenant.headers)
        assert refused.status_code == 422, (name, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert VALUE not in refused.text

    assert (await client.delete(f"{base}/INDEX_TOKEN", headers=tenant.headers)).status_code == 204
    assert (await client.delete(f"{base}/INDEX_TOKEN", headers=tenant.headers)).status_code == 404
    assert (await client.get(base, headers=tenant.headers)).json()["items"] == []


async def test_deleting_the_repository_removes_its_setup_secrets(
    client: httpx.AsyncClient, tenant: Tenant, sessions: async_sessionmaker[AsyncSession]
) -> None:
    repo = await register_repository(client, tenant)
    base = f"/v1/repositories/{repo['id']}/setup-secrets"
    await client.put(f"{base}/INDEX_TOKEN", json={"value": VALUE}, headers=tenant.headers)
    deleted = await client.delete(f"/v1/repositories/{repo['id']}", headers=tenant.headers)
    assert deleted.status_code == 204
    async with sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(SetupSecretRow)
            .where(SetupSecretRow.repository_id == uuid.UUID(repo["id"]))
        )  # fmt: skip
    assert left == 0

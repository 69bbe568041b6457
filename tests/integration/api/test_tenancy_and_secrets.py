"""Tenant isolation and secrecy: another tenant's ids are a 404 like a missing id on every
endpoint, and no response ever carries a credential's secret or its ciphertext."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import ArtifactType, ChangeType, StepType
from domain.values import FileChangeStat, PlanStep
from persistence.artifacts.service import ArtifactService
from persistence.events import EventStore
from persistence.repositories.file_changes import FileChangeRepository
from persistence.repositories.steps import ExecutionStepRepository
from persistence.tables import CredentialRow
from tests.integration.api.conftest import (
    Tenant,
    TenantFactory,
    execution_body,
    register_repository,
)

SECRET = "planted-secret-9c1f4e7a2b"


def _endpoints(repo_id: str, execution_id: str, artifact_id: str) -> list[tuple[str, str, Any]]:
    e = f"/v1/executions/{execution_id}"
    r = f"/v1/repositories/{repo_id}"
    return [
        ("GET", r, None),
        ("PATCH", r, {"name": "renamed"}),
        ("PUT", f"{r}/credential", {"type": "token", "token": "x"}),
        ("POST", f"{r}/credential/validate", None),
        ("DELETE", f"{r}/credential", None),
        ("DELETE", r, None),
        ("GET", e, None),
        ("POST", f"{e}/cancel", {"reason": "x"}),
        ("POST", f"{e}/plan/approve", {}),
        ("POST", f"{e}/plan/reject", {}),
        ("GET", f"{e}/steps", None),
        ("GET", f"{e}/file-changes", None),
        ("GET", f"{e}/artifacts", None),
        ("GET", f"{e}/artifacts/{artifact_id}/content", None),
        ("GET", f"{e}/events", None),
        ("GET", f"{e}/events/stream", None),
        ("POST", "/v1/executions", execution_body(repo_id)),
    ]


async def _populate(
    client: httpx.AsyncClient, owner: Tenant, sessions: async_sessionmaker[AsyncSession], store: Any
) -> tuple[str, str, str]:
    repo = await register_repository(client, owner)
    put = await client.put(
        f"/v1/repositories/{repo['id']}/credential",
        json={"type": "basic", "username": "builder", "password": SECRET},
        headers=owner.headers,
    )
    assert put.status_code == 204 and SECRET not in put.text
    created = await client.post(
        "/v1/executions", json=execution_body(repo["id"]), headers=owner.headers
    )
    execution_id = created.json()["id"]
    async with sessions.begin() as session:
        eid = uuid.UUID(execution_id)
        artifact = await ArtifactService(session, store).put(
            owner.id, eid, "plan.json", ArtifactType.PLAN, "application/json", data=b"{}"
        )
        await EventStore(session).append(eid, "plan.created", {"steps": 1}, producer_id="tests")
        [step] = await ExecutionStepRepository(session).upsert_steps(
            owner.id,
            eid,
            [PlanStep(index=0, description="write", type=StepType.CREATE_FILE, target_files=[])],
        )
        await FileChangeRepository(session).record(
            owner.id,
            step.id,
            [
                FileChangeStat(
                    file_path="docs/hello.md", change_type=ChangeType.CREATED, patch="+hi"
                )
            ],
        )
    return repo["id"], execution_id, str(artifact.id)


async def test_every_endpoint_answers_another_tenants_ids_like_missing_ones(
    client: httpx.AsyncClient,
    tenant: Tenant,
    new_tenant: TenantFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = client._transport.app.state.services.deps.artifacts  # type: ignore[attr-defined]
    repo_id, execution_id, artifact_id = await _populate(client, tenant, sessions, store)
    intruder = await new_tenant()
    missing = str(uuid.uuid4())

    for (method, path, body), (_m, missing_path, missing_body) in zip(
        _endpoints(repo_id, execution_id, artifact_id),
        _endpoints(missing, missing, missing),
        strict=True,
    ):
        foreign = await client.request(method, path, json=body, headers=intruder.headers)
        absent = await client.request(
            method, missing_path, json=missing_body, headers=intruder.headers
        )
        assert foreign.status_code == 404, (method, path, foreign.text)
        assert absent.status_code == 404, (method, missing_path, absent.text)
        shape = foreign.json()
        assert shape["type"] == absent.json()["type"] == "https://builder.dev/problems/not-found"
        assert shape["detail"].replace(repo_id, "ID").replace(execution_id, "ID").replace(
            artifact_id, "ID"
        ) == absent.json()["detail"].replace(missing, "ID"), (method, path)

    # the owner still sees everything, untouched by the intruder's attempts
    owned = await client.get(f"/v1/executions/{execution_id}", headers=tenant.headers)
    assert owned.status_code == 200 and owned.json()["state"] == "pending"


async def test_no_response_contains_a_credential_secret_or_its_ciphertext(
    client: httpx.AsyncClient, tenant: Tenant, sessions: async_sessionmaker[AsyncSession]
) -> None:
    store = client._transport.app.state.services.deps.artifacts  # type: ignore[attr-defined]
    repo_id, execution_id, artifact_id = await _populate(client, tenant, sessions, store)
    async with sessions() as session:
        ciphertext = await session.scalar(
            select(CredentialRow.encrypted_data).where(
                CredentialRow.repository_id == uuid.UUID(repo_id),
                CredentialRow.deleted_at.is_(None),
            )
        )
    assert ciphertext
    needles = [SECRET, ciphertext, ciphertext[10:50]]
    reads = [
        ("GET", f"/v1/repositories/{repo_id}", None),
        ("GET", "/v1/repositories", None),
        ("PATCH", f"/v1/repositories/{repo_id}", {"properties": {"team": "a"}}),
        ("POST", f"/v1/repositories/{repo_id}/credential/validate", None),
        ("PUT", f"/v1/repositories/{repo_id}/credential", {"type": "basic", "password": SECRET}),
        ("GET", f"/v1/executions/{execution_id}", None),
        ("GET", "/v1/executions", None),
        ("GET", f"/v1/executions/{execution_id}/steps", None),
        ("GET", f"/v1/executions/{execution_id}/file-changes", None),
        ("GET", f"/v1/executions/{execution_id}/artifacts", None),
        ("GET", f"/v1/executions/{execution_id}/artifacts/{artifact_id}/content", None),
        ("GET", f"/v1/executions/{execution_id}/events", None),
        ("GET", "/openapi.json", None),
        ("GET", "/healthz", None),
        ("GET", "/readyz", None),
    ]
    seen = 0
    for method, path, body in reads:
        response = await client.request(method, path, json=body, headers=tenant.headers)
        assert response.status_code < 500, (method, path, response.text)
        for needle in needles:
            assert needle not in response.text, (method, path)
            assert all(needle not in v for v in response.headers.values()), (method, path)
        seen += 1
    assert seen == len(reads)
    shown = (await client.get(f"/v1/repositories/{repo_id}", headers=tenant.headers)).json()
    assert shown["credential"]["type"] == "basic"
    assert set(shown["credential"]) == {
        "id",
        "type",
        "created_at",
        "updated_at",
        "last_validated_at",
    }

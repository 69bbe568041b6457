"""Repositories and credentials, authentication, limits (body, paging, rate) and readiness."""

from __future__ import annotations

import httpx
from temporalio.client import Client

from tests.fixtures.git_servers import HttpGitServer
from tests.integration.api.conftest import AppFactory, Tenant, client_for, register_repository


async def test_repository_lifecycle_update_only_allowed_fields_and_soft_delete(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    embedded = await client.post(
        "/v1/repositories",
        json={"name": "embedded", "url": "https://user:hunter2@git.example.com/a.git"},
        headers=tenant.headers,
    )
    assert embedded.status_code == 422 and "hunter2" not in embedded.text
    repo = await register_repository(client, tenant)
    assert repo["state"] == "active" and repo["credential"] is None
    path = f"/v1/repositories/{repo['id']}"
    patched = await client.patch(
        path, json={"default_branch": "develop", "state": "inactive"}, headers=tenant.headers
    )
    assert patched.status_code == 200
    assert (patched.json()["default_branch"], patched.json()["state"]) == ("develop", "inactive")
    refused = await client.patch(
        path, json={"url": "https://evil.example.com/x.git"}, headers=tenant.headers
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "url"
    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404
    listed = await client.get("/v1/repositories", headers=tenant.headers)
    assert repo["id"] not in [r["id"] for r in listed.json()["items"]]


async def test_repository_create_reports_each_broken_seed_rule(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        "/v1/repositories", json={"name": "x" * 256}, headers=tenant.headers
    )
    assert response.status_code == 422
    assert [e["message"] for e in response.json()["errors"]] == [
        "name must be 255 characters or less",
        "url is required",
    ]


async def test_credential_validation_lists_refs_and_failure_never_shows_the_secret(
    client: httpx.AsyncClient, tenant: Tenant, http_git_server: HttpGitServer
) -> None:
    url = http_git_server.url(http_git_server.add_repo(files=2))
    repo = await register_repository(client, tenant, url=url)
    path = f"/v1/repositories/{repo['id']}/credential"
    good = {
        "type": "basic",
        "username": http_git_server.username,
        "password": http_git_server.password,
    }
    assert (await client.put(path, json=good, headers=tenant.headers)).status_code == 204
    ok = await client.post(f"{path}/validate", headers=tenant.headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["ok"] is True and ok.json()["ref_count"] >= 1
    shown = await client.get(f"/v1/repositories/{repo['id']}", headers=tenant.headers)
    assert shown.json()["credential"]["last_validated_at"] is not None

    wrong = "wrong-password-77f3a1"
    await client.put(path, json={**good, "password": wrong}, headers=tenant.headers)
    failed = await client.post(f"{path}/validate", headers=tenant.headers)
    assert failed.status_code == 200  # the check ran; its verdict is the answer
    assert failed.json()["ok"] is False and failed.json()["reason"]
    assert wrong not in failed.text and http_git_server.password not in failed.text
    shown = await client.get(f"/v1/repositories/{repo['id']}", headers=tenant.headers)
    assert shown.json()["credential"]["last_validated_at"] is None  # a new secret, unproven

    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    gone = await client.post(f"{path}/validate", headers=tenant.headers)
    assert gone.status_code == 404 and "no credential" in gone.json()["detail"]


async def test_requests_without_a_valid_key_are_unauthorized(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer bld_not-a-real-key"},
        {"Authorization": "Basic x"},
    ):
        response = await client.get("/v1/repositories", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_revoked_key_stops_working(make_app: AppFactory, tenant: Tenant) -> None:
    from api.admin import list_api_keys, revoke_api_key

    app = make_app(auth_cache_seconds=0.0)
    async with client_for(app) as client:
        assert (await client.get("/v1/repositories", headers=tenant.headers)).status_code == 200
        sessions = app.state.services.deps.sessions
        [key] = await list_api_keys(sessions, tenant.id)
        assert tenant.key not in repr(key) and key.key_prefix.startswith("bld_")
        await revoke_api_key(sessions, tenant.id, key.id)
        assert (await client.get("/v1/repositories", headers=tenant.headers)).status_code == 401


async def test_rate_limit_per_key_answers_429_with_retry_after(
    make_app: AppFactory, tenant: Tenant
) -> None:
    async with client_for(make_app(rate_limit_per_minute=3)) as client:
        statuses = [
            (await client.get("/v1/repositories", headers=tenant.headers)).status_code
            for _ in range(4)
        ]
        limited = await client.get("/v1/repositories", headers=tenant.headers)
    assert statuses == [200, 200, 200, 429]
    assert limited.json()["type"] == "https://builder.dev/problems/rate-limited"
    assert int(limited.headers["retry-after"]) >= 1


async def test_oversized_bodies_are_refused_with_413(make_app: AppFactory, tenant: Tenant) -> None:
    async with client_for(make_app(max_body_bytes=1024)) as client:
        big = {
            "name": "big",
            "url": "https://git.example.com/a.git",
            "properties": {"x": "y" * 2000},
        }
        declared = await client.post("/v1/repositories", json=big, headers=tenant.headers)

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(4):
                yield b'{"name": "' + b"z" * 400

        streamed = await client.post(
            "/v1/repositories",
            content=chunks(),
            headers={**tenant.headers, "content-type": "application/json"},
        )
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["type"] == "https://builder.dev/problems/payload-too-large"


async def test_page_sizes_beyond_the_limit_are_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for params in ({"limit": 101}, {"limit": 0}, {"offset": -1}):
        response = await client.get("/v1/executions", params=params, headers=tenant.headers)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] in ("limit", "offset")
    ok = await client.get("/v1/repositories", params={"limit": 100}, headers=tenant.headers)
    assert ok.status_code == 200 and ok.json()["limit"] == 100


async def test_readyz_names_what_is_down(make_app: AppFactory, client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "temporal": "ok", "artifact_store": "ok"}
    assert (await client.get("/healthz")).json()["status"] == "ok"

    async def temporal_down() -> Client:
        return await Client.connect("127.0.0.1:1", namespace="default")

    async with client_for(make_app(temporal=temporal_down)) as down:
        response = await down.get("/readyz")
    assert response.status_code == 503
    assert "temporal" in response.json()["detail"]
    assert "postgres" not in response.json()["detail"]

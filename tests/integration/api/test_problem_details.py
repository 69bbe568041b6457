"""Problem details name the field and never repeat what the request sent: planted values in
bodies, queries and headers never come back, and a URL with a credential in its query is
refused like one with user info."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.api.conftest import Tenant, execution_body, register_repository

PLANT = "planted-Secret-9f8e7d"


def _clean(response: httpx.Response) -> dict[str, object]:
    assert PLANT not in response.text, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    return body


def _fields(problem: dict[str, object]) -> set[str]:
    return {str(e["field"]) for e in problem.get("errors") or []}  # type: ignore[union-attr,index]


async def test_a_url_with_a_token_in_its_query_is_refused_without_echoing_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for key in ("token", "access_token", "private_token", "password", "X-Api-Key"):
        url = f"https://git.example.com/acme/app.git?ref=main&{key}={PLANT}"
        response = await client.post(
            "/v1/repositories", json={"name": f"r-{key}", "url": url}, headers=tenant.headers
        )
        assert response.status_code == 422, response.text
        problem = _clean(response)
        assert problem["type"] == "https://builder.dev/problems/policy-violation"
        assert _fields(problem) == {"url"}
    listed = await client.get("/v1/repositories", headers=tenant.headers)
    assert PLANT not in listed.text  # nothing was stored


async def test_execution_fields_are_named_and_their_values_never_repeated(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    cases = [
        ({"target_branch": f"bad..{PLANT}"}, "target_branch"),
        ({"changes": [{"op": "write_file", "path": f"../{PLANT}", "content": "x"}]},
         "changes[0].path"),
        ({"changes": [{"op": "write_file", "path": f"src/{PLANT}", "content": "x"}],
          "constraints": {"allowed_paths": ["docs/"]}}, "changes[0].path"),
        ({"properties": {"note": f"{PLANT}\x00"}}, "properties.note"),
        ({"properties": {"deep": [[[[[[[[[PLANT]]]]]]]]]}}, "properties.deep"),  # 9 levels
        ({"title": f"{PLANT}\x00"}, "title"),
        ({"engine": PLANT}, "engine"),
        ({"repository_id": PLANT}, "repository_id"),
        ({"constraints": {"max_steps": PLANT}}, "constraints.max_steps"),
    ]  # fmt: skip
    for overrides, field in cases:
        body = {**execution_body(repo["id"]), **overrides}
        response = await client.post("/v1/executions", json=body, headers=tenant.headers)
        assert response.status_code == 422, (overrides, response.text)
        assert field in _fields(_clean(response)), (overrides, response.text)


async def test_query_and_header_values_are_never_repeated(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for params, field in (
        ({"created_before": PLANT}, "created_before"),
        ({"created_before": "0.5"}, "created_before"),
        ({"created_after": "2024-05-01T12:00:00"}, "created_after"),  # no offset
        ({"q": f"{PLANT}\x00"}, "q"),
        ({"repository_id": PLANT}, "repository_id"),
        ({"limit": PLANT}, "limit"),
    ):
        response = await client.get("/v1/executions", params=params, headers=tenant.headers)
        assert response.status_code == 422, (params, response.text)
        assert _fields(_clean(response)) == {field}
    repo = await register_repository(client, tenant)
    response = await client.post(
        "/v1/executions",
        json=execution_body(repo["id"]),
        headers={**tenant.headers, "Idempotency-Key": f"{PLANT} with spaces"},
    )
    assert response.status_code == 422
    assert _fields(_clean(response)) == {"Idempotency-Key"}


async def test_conflicts_do_not_repeat_the_key_or_the_name(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    name = f"repo-{PLANT}"
    first = await client.post(
        "/v1/repositories",
        json={"name": name, "url": "https://git.example.com/a.git"},
        headers=tenant.headers,
    )
    assert first.status_code == 201
    again = await client.post(
        "/v1/repositories",
        json={"name": name, "url": "https://git.example.com/b.git"},
        headers=tenant.headers,
    )
    assert again.status_code == 409
    _clean(again)

    repo = first.json()
    key = f"{PLANT}-{uuid.uuid4().hex}"
    headers = {**tenant.headers, "Idempotency-Key": key}
    created = await client.post("/v1/executions", json=execution_body(repo["id"]), headers=headers)
    assert created.status_code == 202, created.text
    other = execution_body(repo["id"], title="Something else entirely")
    reused = await client.post("/v1/executions", json=other, headers=headers)
    assert reused.status_code == 409
    assert key not in reused.text and PLANT not in reused.json()["detail"]
    mismatch = await client.post(
        "/v1/executions",
        json={**execution_body(repo["id"]), "idempotency_key": f"{PLANT}-other"},
        headers=headers,
    )
    assert mismatch.status_code == 409
    assert PLANT not in mismatch.json()["detail"]


async def test_secret_fields_of_a_refused_credential_never_come_back(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = await register_repository(client, tenant)
    path = f"/v1/repositories/{repo['id']}/credential"
    for body, field in (
        ({"type": "token", "token": PLANT, "password": PLANT}, "password"),
        ({"type": "basic", "password": PLANT}, "username"),
        ({"type": "ssh_key", "token": PLANT}, "ssh_private_key"),
    ):
        response = await client.put(path, json=body, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert any(field in f for f in _fields(_clean(response))), response.text

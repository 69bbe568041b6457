"""Repository properties that configure pull requests are checked when they are set."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.api.conftest import Tenant

URL = "https://git.corp.example/acme/app.git"


async def register(
    client: httpx.AsyncClient, tenant: Tenant, **properties: object
) -> httpx.Response:
    return await client.post(
        "/v1/repositories",
        json={
            "name": f"repo-{uuid.uuid4().hex[:8]}",
            "url": URL,
            "default_branch": "main",
            "properties": properties,
        },
        headers=tenant.headers,
    )


async def test_good_pull_request_and_forge_properties_are_kept(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await register(
        client,
        tenant,
        forge="forgejo",
        pull_request={"mode": "draft", "labels": ["builder"], "reviewers": ["alice"]},
    )
    assert response.status_code == 201, response.text
    assert response.json()["properties"]["forge"] == "forgejo"


async def test_a_broken_pull_request_setting_is_a_422_naming_the_rule(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await register(client, tenant, pull_request={"mode": "sometimes"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == (
        "properties.pull_request.mode must be none, draft or ready"
    )


async def test_an_unknown_forge_or_an_unusable_api_url_is_refused(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    unknown = await register(client, tenant, forge="sourceforge")
    assert unknown.status_code == 422 and "unknown forge 'sourceforge'" in unknown.json()["detail"]
    untold = await register(client, tenant, forge_api_url="https://git.corp.example/api/v4")
    assert untold.status_code == 422 and "cannot tell which forge" in untold.json()["detail"]
    ftp = await register(client, tenant, forge="gitlab", forge_api_url="ftp://x/api")
    assert ftp.status_code == 422 and "forge_api_url" in ftp.json()["detail"]


async def test_patching_in_a_bad_setting_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    repo = (await register(client, tenant)).json()
    patched = await client.patch(
        f"/v1/repositories/{repo['id']}",
        json={"properties": {"pull_request": {"labels": ["a,b"]}}},
        headers=tenant.headers,
    )
    assert patched.status_code == 422
    again = await client.get(f"/v1/repositories/{repo['id']}", headers=tenant.headers)
    assert again.json()["properties"] == {}

"""/v1/webhooks: subscriptions with a secret shown once, the destination policy, tenancy,
messages, attempts and redelivery."""

from __future__ import annotations

import json
import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.webhooks import DestinationPolicy
from persistence.tables import WebhookSecretRow
from persistence.vault import Keyring
from tests.integration.api.conftest import AppFactory, Tenant, TenantFactory, client_for
from tests.integration.webhooks.conftest import completed_execution_event, dispatcher

HOOK = "https://hooks.example.com/builder"
EVENTS = ["execution.completed", "pull_request.opened"]


async def create(client: httpx.AsyncClient, tenant: Tenant, **body: object) -> httpx.Response:
    return await client.post(
        "/v1/webhooks", json={"url": HOOK, "event_types": EVENTS, **body}, headers=tenant.headers
    )


async def test_secret_is_shown_once_at_creation_and_never_again(
    client: httpx.AsyncClient, tenant: Tenant, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await create(client, tenant, description="CI bridge")
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_")
    assert body["event_types"] == sorted(EVENTS) and body["active"] is True
    hook = body["id"]

    responses = [
        await client.get("/v1/webhooks", headers=tenant.headers),
        await client.get(f"/v1/webhooks/{hook}", headers=tenant.headers),
        await client.patch(f"/v1/webhooks/{hook}", json={"active": False}, headers=tenant.headers),
        await client.get(f"/v1/webhooks/{hook}/messages", headers=tenant.headers),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert secret not in response.text and "secret" not in response.json()
    assert responses[2].json()["active"] is False
    async with sessions() as session:
        [row] = (
            await session.scalars(
                select(WebhookSecretRow).where(WebhookSecretRow.subscription_id == uuid.UUID(hook))
            )
        ).all()
    assert secret not in row.encrypted_data and secret[6:] not in row.encrypted_data


async def test_loopback_receiver_outside_dev_is_a_clear_422(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/h",
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
    ):
        response = await create(client, tenant, url=url)
        assert response.status_code == 422, url
        problem = response.json()
        assert problem["type"].endswith("/policy-violation")
        assert "only public addresses can receive webhooks" in problem["detail"]


async def test_dev_may_subscribe_a_receiver_on_this_machine(
    make_app: AppFactory, tenant: Tenant
) -> None:
    app = make_app(webhooks=DestinationPolicy(allow_private=True))
    async with client_for(app) as client:
        response = await create(client, tenant, url="http://127.0.0.1:8080/hook")
    assert response.status_code == 201, response.text


async def test_bad_fields_are_named(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await create(client, tenant, event_types=["step.started"])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"].startswith("event_types")
    response = await create(client, tenant, url="ftp://example.com/x")
    assert response.status_code == 422 and "http or https" in response.json()["detail"]
    response = await create(client, tenant, url="https://user:pw@example.com/x")
    assert response.status_code == 422 and "pw" not in response.text


async def test_another_tenants_subscription_is_not_found_anywhere(
    client: httpx.AsyncClient, tenant: Tenant, new_tenant: TenantFactory
) -> None:
    hook = (await create(client, tenant)).json()["id"]
    intruder = await new_tenant()
    msg = f"msg_{uuid.uuid4().hex}"
    for method, path, body in [
        ("GET", f"/v1/webhooks/{hook}", None),
        ("PATCH", f"/v1/webhooks/{hook}", {"active": False}),
        ("POST", f"/v1/webhooks/{hook}/secret/rotate", {}),
        ("GET", f"/v1/webhooks/{hook}/messages", None),
        ("GET", f"/v1/webhooks/{hook}/messages/{msg}", None),
        ("GET", f"/v1/webhooks/{hook}/messages/{msg}/attempts", None),
        ("POST", f"/v1/webhooks/{hook}/messages/{msg}/redeliver", None),
        ("DELETE", f"/v1/webhooks/{hook}", None),
    ]:
        response = await client.request(method, path, json=body, headers=intruder.headers)
        assert response.status_code == 404, (method, path)
    listed = await client.get("/v1/webhooks", headers=intruder.headers)
    assert listed.json()["total"] == 0
    assert (await client.get(f"/v1/webhooks/{hook}", headers=tenant.headers)).status_code == 200


async def test_rotation_returns_a_new_secret_and_when_the_old_one_stops(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = (await create(client, tenant)).json()
    rotated = await client.post(
        f"/v1/webhooks/{created['id']}/secret/rotate",
        json={"previous_valid_for_seconds": 3600},
        headers=tenant.headers,
    )
    assert rotated.status_code == 200
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != created["secret"]
    assert body["previous_secrets_expire_at"]
    too_long = await client.post(
        f"/v1/webhooks/{created['id']}/secret/rotate",
        json={"previous_valid_for_seconds": 30 * 86400},
        headers=tenant.headers,
    )
    assert too_long.status_code == 422


async def test_messages_attempts_and_redelivery_through_the_api(
    make_app: AppFactory,
    tenant: Tenant,
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
) -> None:
    app = make_app(webhooks=DestinationPolicy(allow_private=True))
    async with client_for(app) as client:
        # nothing listens on port 9 (discard): every attempt fails fast
        hook = (await create(client, tenant, url="http://127.0.0.1:9/hook")).json()["id"]
        execution_id, event_id = await completed_execution_event(sessions, tenant.id)
        d = dispatcher(sessions, keyring)
        await d.run_once()
        await d.aclose()

        page = (
            await client.get(f"/v1/webhooks/{hook}/messages?status=pending", headers=tenant.headers)
        ).json()
        [message] = page["items"]
        assert message["id"].startswith("msg_") and message["event_id"] == str(event_id)
        assert message["execution_id"] == str(execution_id)
        assert message["attempts"] == 1 and message["payload"]["type"] == "execution.completed"
        assert message["last_error"]
        one = await client.get(
            f"/v1/webhooks/{hook}/messages/{message['id']}", headers=tenant.headers
        )
        assert one.json()["id"] == message["id"]
        attempts = (
            await client.get(
                f"/v1/webhooks/{hook}/messages/{message['id']}/attempts", headers=tenant.headers
            )
        ).json()
        assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "error")]
        again = await client.post(
            f"/v1/webhooks/{hook}/messages/{message['id']}/redeliver", headers=tenant.headers
        )
        assert again.status_code == 202
        assert again.json()["status"] == "pending" and again.json()["next_attempt_at"]
        assert json.dumps(again.json()).count("whsec_") == 0
        delivered = await client.get(
            f"/v1/webhooks/{hook}/messages?status=delivered", headers=tenant.headers
        )
        assert delivered.json()["total"] == 0

"""/v1/webhooks: a tenant's outbound webhook subscriptions, their signing secret, the
messages queued for them, every delivery attempt, and redelivery."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from activities.webhooks.destinations import check_destination
from activities.webhooks.signing import generate_secret
from api.problems import problem_responses, validation_problem
from api.schemas.common import Page
from api.schemas.webhooks import (
    MessageStatusName,
    SecretRotated,
    SecretRotation,
    WebhookAttemptOut,
    WebhookCreate,
    WebhookCreated,
    WebhookMessageOut,
    WebhookOut,
    WebhookUpdate,
)
from api.services import PageParams, Svc, TenantId
from domain.webhooks import WebhookMessageStatus, subscription_errors
from persistence.repositories.base import UNSET
from persistence.webhooks import WebhookMessages, WebhookSubscriptions, parse_message_id

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

# the webhook-id a receiver saw (msg_<32 hex>) or the message's plain uuid
MessageId = Annotated[
    str,
    Path(
        pattern=r"^(msg_[0-9a-f]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
        r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
        description="the webhook-id header value (msg_…) or the message's uuid",
    ),
]

_AUTH = (401, 429)


async def _check_url(svc: Svc, url: str) -> None:
    # DNS is blocking: off the event loop. A name that does not resolve yet is accepted;
    # every delivery resolves and checks again.
    await asyncio.to_thread(check_destination, url, svc.deps.config.webhooks, resolve=False)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    responses=problem_responses(*_AUTH, 413, 422),
    summary="Subscribe an endpoint (the signing secret is shown once, here)",
)
async def create_webhook(body: WebhookCreate, tenant_id: TenantId, svc: Svc) -> WebhookCreated:
    errors = subscription_errors(body.url, body.event_types or [], body.description)
    if errors:
        raise validation_problem(errors)
    assert body.url is not None and body.event_types
    await _check_url(svc, body.url)
    secret = generate_secret()
    async with svc.deps.sessions.begin() as session:
        view = await WebhookSubscriptions(session, svc.deps.keyring).create(
            tenant_id,
            body.url,
            list(body.event_types),
            secret,
            description=body.description,
            active=body.active,
        )
    return WebhookCreated(**WebhookOut.of(view).model_dump(), secret=secret)


@router.get(
    "",
    response_model=Page[WebhookOut],
    responses=problem_responses(*_AUTH, 422),
    summary="List subscriptions, oldest first",
)
async def list_webhooks(tenant_id: TenantId, svc: Svc, page: PageParams) -> Page[WebhookOut]:
    async with svc.deps.sessions() as session:
        items, total = await WebhookSubscriptions(session, svc.deps.keyring).page(
            tenant_id, limit=page.limit, offset=page.offset
        )
    return Page(
        items=[WebhookOut.of(v) for v in items], total=total, limit=page.limit, offset=page.offset
    )


@router.get(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses=problem_responses(*_AUTH, 404),
    summary="Get a subscription",
)
async def get_webhook(webhook_id: uuid.UUID, tenant_id: TenantId, svc: Svc) -> WebhookOut:
    async with svc.deps.sessions() as session:
        view = await WebhookSubscriptions(session, svc.deps.keyring).get(tenant_id, webhook_id)
    return WebhookOut.of(view)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    responses=problem_responses(*_AUTH, 404, 413, 422),
    summary="Change URL, event types, description or active flag",
)
async def update_webhook(
    webhook_id: uuid.UUID, body: WebhookUpdate, tenant_id: TenantId, svc: Svc
) -> WebhookOut:
    # only the fields the request sets are checked
    errors = [
        e
        for e in subscription_errors(body.url or "", None, body.description)
        if body.url is not None or e.field != "url"
    ]
    if errors:
        raise validation_problem(errors)
    if body.url is not None:
        await _check_url(svc, body.url)
    async with svc.deps.sessions.begin() as session:
        view = await WebhookSubscriptions(session, svc.deps.keyring).update(
            tenant_id,
            webhook_id,
            url=UNSET if body.url is None else body.url,
            event_types=UNSET if body.event_types is None else list(body.event_types),
            description=UNSET if "description" not in body.model_fields_set else body.description,
            active=UNSET if body.active is None else body.active,
        )
    return WebhookOut.of(view)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(*_AUTH, 404),
    summary="Delete a subscription (its pending messages are not sent)",
)
async def delete_webhook(webhook_id: uuid.UUID, tenant_id: TenantId, svc: Svc) -> Response:
    async with svc.deps.sessions.begin() as session:
        await WebhookSubscriptions(session, svc.deps.keyring).delete(tenant_id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/secret/rotate",
    response_model=SecretRotated,
    responses=problem_responses(*_AUTH, 404, 413, 422),
    summary="Rotate the signing secret; the previous one keeps signing for a while",
)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID, tenant_id: TenantId, svc: Svc, body: SecretRotation | None = None
) -> SecretRotated:
    grace = timedelta(seconds=(body or SecretRotation()).previous_valid_for_seconds)
    secret = generate_secret()
    async with svc.deps.sessions.begin() as session:
        until = await WebhookSubscriptions(session, svc.deps.keyring).rotate_secret(
            tenant_id, webhook_id, secret, grace
        )
    return SecretRotated(secret=secret, previous_secrets_expire_at=until)


@router.get(
    "/{webhook_id}/messages",
    response_model=Page[WebhookMessageOut],
    responses=problem_responses(*_AUTH, 404, 422),
    summary="Messages queued for a subscription, newest first",
)
async def list_messages(
    webhook_id: uuid.UUID,
    tenant_id: TenantId,
    svc: Svc,
    page: PageParams,
    status_: Annotated[MessageStatusName | None, Query(alias="status")] = None,
) -> Page[WebhookMessageOut]:
    async with svc.deps.sessions() as session:
        items, total = await WebhookMessages(session).page(
            tenant_id,
            webhook_id,
            status=WebhookMessageStatus(status_) if status_ else None,
            limit=page.limit,
            offset=page.offset,
        )
    return Page(
        items=[WebhookMessageOut.of(m) for m in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


def _message_id(message_id: str) -> uuid.UUID:
    return parse_message_id(message_id)


@router.get(
    "/{webhook_id}/messages/{message_id}",
    response_model=WebhookMessageOut,
    responses=problem_responses(*_AUTH, 404),
    summary="One message with its payload",
)
async def get_message(
    webhook_id: uuid.UUID, message_id: MessageId, tenant_id: TenantId, svc: Svc
) -> WebhookMessageOut:
    async with svc.deps.sessions() as session:
        view = await WebhookMessages(session).get(tenant_id, webhook_id, _message_id(message_id))
    return WebhookMessageOut.of(view)


@router.get(
    "/{webhook_id}/messages/{message_id}/attempts",
    response_model=list[WebhookAttemptOut],
    responses=problem_responses(*_AUTH, 404),
    summary="Every delivery attempt of a message, oldest first",
)
async def list_attempts(
    webhook_id: uuid.UUID, message_id: MessageId, tenant_id: TenantId, svc: Svc
) -> list[WebhookAttemptOut]:
    async with svc.deps.sessions() as session:
        views = await WebhookMessages(session).attempts(
            tenant_id, webhook_id, _message_id(message_id)
        )
    return [WebhookAttemptOut.of(a) for a in views]


@router.post(
    "/{webhook_id}/messages/{message_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookMessageOut,
    responses=problem_responses(*_AUTH, 404),
    summary="Queue a message again now, with the same webhook-id and a fresh attempt budget",
)
async def redeliver_message(
    webhook_id: uuid.UUID, message_id: MessageId, tenant_id: TenantId, svc: Svc
) -> WebhookMessageOut:
    async with svc.deps.sessions.begin() as session:
        view = await WebhookMessages(session).redeliver(
            tenant_id, webhook_id, _message_id(message_id)
        )
    return WebhookMessageOut.of(view)

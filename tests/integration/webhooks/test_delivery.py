"""The dispatcher: signed deliveries a Standard Webhooks receiver accepts, retries with
backoff and the same webhook-id, rotation, limits, redelivery and the destination policy."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.webhooks import DestinationPolicy, generate_secret
from persistence.tables import WebhookAttemptRow, WebhookMessageRow, WebhookSubscriptionRow
from persistence.vault import Keyring
from persistence.webhooks import WebhookMessages, WebhookSubscriptions
from tests.integration.webhooks.conftest import (
    Receiver,
    completed_execution_event,
    dispatcher,
    subscribe,
)


async def message_of(
    sessions: async_sessionmaker[AsyncSession], event_id: uuid.UUID
) -> WebhookMessageRow:
    async with sessions() as session:
        return (
            await session.scalars(
                select(WebhookMessageRow).where(WebhookMessageRow.event_id == event_id)
            )
        ).one()


async def attempts_of(
    sessions: async_sessionmaker[AsyncSession], message_id: uuid.UUID
) -> list[WebhookAttemptRow]:
    async with sessions() as session:
        return list(
            (
                await session.scalars(
                    select(WebhookAttemptRow)
                    .where(WebhookAttemptRow.message_id == message_id)
                    .order_by(WebhookAttemptRow.attempt)
                )
            ).all()
        )


async def drain(d: object, until: float = 10.0) -> None:
    """Run dispatcher batches until nothing is due (or the time is up)."""
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        if await d.run_once() == 0:  # type: ignore[attr-defined]
            return
    raise AssertionError("the dispatcher kept finding due messages")


async def test_completed_event_is_delivered_signed_as_standard_webhooks_describes(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring, receiver: Receiver
) -> None:
    tenant = uuid.uuid4()
    _, secret = await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    receiver.secrets = [secret]
    execution_id, event_id = await completed_execution_event(sessions, tenant)
    d = dispatcher(sessions, webhook_keyring)

    # the database is shared: other tests' due messages may ride in the same batch
    assert await d.run_once() >= 1
    await d.aclose()

    [delivery] = receiver.deliveries
    message = await message_of(sessions, event_id)
    assert delivery.verified_by == [0]
    assert delivery.webhook_id == f"msg_{message.id.hex}"
    assert abs(int(delivery.headers["webhook-timestamp"]) - time.time()) < 30
    assert delivery.headers["webhook-signature"].startswith("v1,")
    assert delivery.body == message.payload
    body = json.loads(delivery.body)
    assert body["type"] == "execution.completed"
    assert body["data"]["execution_id"] == str(execution_id)
    assert (message.status, message.attempts, message.last_status_code) == ("delivered", 1, 200)
    [attempt] = await attempts_of(sessions, message.id)
    assert (attempt.outcome, attempt.status_code) == ("delivered", 200)
    assert attempt.duration_ms is not None and attempt.response_excerpt == '{"ok":true}'


async def test_during_a_rotation_both_secrets_sign_and_afterwards_only_the_new_one(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring, receiver: Receiver
) -> None:
    tenant = uuid.uuid4()
    sub, old = await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    new = generate_secret()
    async with sessions.begin() as session:
        await WebhookSubscriptions(session, webhook_keyring).rotate_secret(
            tenant, sub.id, new, timedelta(hours=1)
        )
    receiver.secrets = [old, new]
    d = dispatcher(sessions, webhook_keyring)
    await completed_execution_event(sessions, tenant)
    await drain(d)

    newest = generate_secret()
    async with sessions.begin() as session:
        await WebhookSubscriptions(session, webhook_keyring).rotate_secret(
            tenant, sub.id, newest, timedelta(0)
        )
    receiver.secrets = [old, new, newest]
    await completed_execution_event(sessions, tenant)
    await drain(d)
    await d.aclose()

    during, after = receiver.deliveries
    assert sorted(during.verified_by) == [0, 1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert after.verified_by == [2]
    assert len(after.headers["webhook-signature"].split(" ")) == 1


async def test_failures_are_retried_with_backoff_until_the_limit_then_redelivery_starts_over(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring, receiver: Receiver
) -> None:
    tenant = uuid.uuid4()
    sub, secret = await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    receiver.secrets = [secret]
    receiver.respond = lambda n: (500, b"boom")
    _, event_id = await completed_execution_event(sessions, tenant)
    d = dispatcher(sessions, webhook_keyring, max_attempts=3)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    deadline = time.monotonic() + 20
    while (await message_of(sessions, event_id)).status == "pending":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)

    failed = await message_of(sessions, event_id)
    attempts = await attempts_of(sessions, failed.id)
    assert failed.status == "failed" and failed.attempts == 3
    assert [(a.attempt, a.outcome, a.status_code) for a in attempts] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "failed", 500),
    ]
    gaps = [b.at - a.at for a, b in itertools.pairwise(receiver.deliveries)]
    assert all(gap >= 0.15 for gap in gaps)  # backoff, not a tight loop

    receiver.respond = lambda n: (204, b"")
    async with sessions.begin() as session:
        await WebhookMessages(session).redeliver(tenant, sub.id, failed.id)
    while (await message_of(sessions, event_id)).status != "delivered":
        assert time.monotonic() < deadline + 10
        await asyncio.sleep(0.05)
    stop.set()
    await task

    assert len({r.webhook_id for r in receiver.deliveries}) == 1
    assert [a.outcome for a in await attempts_of(sessions, failed.id)][-1] == "delivered"


async def test_410_gone_switches_the_subscription_off(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring, receiver: Receiver
) -> None:
    tenant = uuid.uuid4()
    sub, _ = await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    receiver.respond = lambda n: (410, b"")
    _, event_id = await completed_execution_event(sessions, tenant)
    d = dispatcher(sessions, webhook_keyring)
    await drain(d)
    await completed_execution_event(sessions, tenant)
    await drain(d)
    await d.aclose()

    async with sessions() as session:
        row = await session.get(WebhookSubscriptionRow, sub.id)
    assert row is not None and not row.active and "410" in (row.disabled_reason or "")
    assert (await message_of(sessions, event_id)).status == "failed"
    assert len(receiver.deliveries) == 1  # nothing more goes to a switched-off endpoint


async def test_private_receiver_is_refused_at_delivery_when_not_allowed(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring, receiver: Receiver
) -> None:
    tenant = uuid.uuid4()
    await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    _, event_id = await completed_execution_event(sessions, tenant)
    d = dispatcher(sessions, webhook_keyring, policy=DestinationPolicy(allow_private=False))

    await d.run_once()
    await d.aclose()

    message = await message_of(sessions, event_id)
    [attempt] = await attempts_of(sessions, message.id)
    assert attempt.outcome == "refused" and "loopback" in (attempt.error or "")
    assert message.status == "pending" and receiver.deliveries == []


async def test_a_long_answer_is_cut_and_never_shows_the_secret(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring, receiver: Receiver
) -> None:
    tenant = uuid.uuid4()
    _, secret = await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    receiver.respond = lambda n: (400, (f"bad {secret} " + "x" * 200_000).encode())
    _, event_id = await completed_execution_event(sessions, tenant)
    d = dispatcher(sessions, webhook_keyring)

    await d.run_once()
    await d.aclose()

    [attempt] = await attempts_of(sessions, (await message_of(sessions, event_id)).id)
    excerpt = attempt.response_excerpt or ""
    assert attempt.status_code == 400 and excerpt.startswith("bad *** x")
    assert len(excerpt) <= 512 and secret not in excerpt

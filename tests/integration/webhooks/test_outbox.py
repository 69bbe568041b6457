"""The outbox: an eligible event appended gets one message per matching live subscription
of its tenant, in the same transaction, and nothing else does."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.events import EventLog, EventStore, append
from persistence.tables import FeatureExecutionRow, WebhookMessageRow
from persistence.vault import Keyring
from persistence.webhooks import WebhookSubscriptions
from tests.integration.persistence.factories import committed_execution, stored_sequences
from tests.integration.webhooks.conftest import completed_execution_event, subscribe

URL = "https://hooks.example.com/builder"


async def messages(
    sessions: async_sessionmaker[AsyncSession], **where: object
) -> list[WebhookMessageRow]:
    async with sessions() as session:
        query = select(WebhookMessageRow)
        for name, value in where.items():
            query = query.where(getattr(WebhookMessageRow, name) == value)
        return list((await session.scalars(query)).all())


async def subscribed_execution(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> FeatureExecutionRow:
    """An execution of a new tenant that has one subscription to execution.completed."""
    tenant = uuid.uuid4()
    await subscribe(sessions, keyring, tenant, URL, ["execution.completed"])
    return await committed_execution(sessions, tenant)


async def test_only_live_subscriptions_of_the_tenant_for_the_event_type_get_a_message(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring
) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    wanted, _ = await subscribe(sessions, webhook_keyring, tenant, URL, ["execution.completed"])
    await subscribe(sessions, webhook_keyring, tenant, URL, ["execution.failed"])
    await subscribe(sessions, webhook_keyring, other, URL, ["execution.completed"])
    await subscribe(sessions, webhook_keyring, tenant, URL, ["execution.completed"], active=False)
    deleted, _ = await subscribe(sessions, webhook_keyring, tenant, URL)
    async with sessions.begin() as session:
        await WebhookSubscriptions(session, webhook_keyring).delete(tenant, deleted.id)

    execution_id, event_id = await completed_execution_event(sessions, tenant)

    found = await messages(sessions, feature_execution_id=execution_id)
    assert [(m.subscription_id, m.event_id, m.status) for m in found] == [
        (wanted.id, event_id, "pending")
    ]
    body = json.loads(found[0].payload)
    assert body["type"] == "execution.completed"
    assert body["timestamp"].endswith("Z")
    data = body["data"]
    assert data["execution_id"] == str(execution_id) and data["event_id"] == str(event_id)
    assert data["title"] == "Add a health endpoint" and data["sequence_number"] == 1
    assert data["result"]["branch_name"] == "builder/x"


async def test_other_event_types_and_re_appends_enqueue_nothing(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring
) -> None:
    execution = await subscribed_execution(sessions, webhook_keyring)
    event_id = uuid.uuid4()
    async with sessions.begin() as session:
        await append(session, execution.id, "step.started", {"step": 0}, producer_id="t")
        for _ in range(2):  # a retried activity appends the same event again
            await append(
                session,
                execution.id,
                "execution.completed",
                {},
                producer_id="t",
                event_id=event_id,
            )

    assert len(await messages(sessions, feature_execution_id=execution.id)) == 1


async def test_a_rolled_back_append_leaves_no_message(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    await subscribe(sessions, webhook_keyring, tenant, URL)
    execution = await committed_execution(sessions, tenant)
    async with sessions() as session:
        await append(session, execution.id, "execution.completed", {}, producer_id="t")
        assert (
            len(
                (
                    await session.scalars(
                        select(WebhookMessageRow).where(
                            WebhookMessageRow.feature_execution_id == execution.id
                        )
                    )
                ).all()
            )
            == 1
        )
        await session.rollback()

    assert await messages(sessions, feature_execution_id=execution.id) == []


async def test_event_log_batches_enqueue_like_single_appends(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring, db_engine: object
) -> None:
    tenant = uuid.uuid4()
    sub, _ = await subscribe(
        sessions, webhook_keyring, tenant, URL, ["plan.approval_requested", "execution.failed"]
    )
    execution = await committed_execution(sessions, tenant)
    log = EventLog(db_engine)  # type: ignore[arg-type]

    await log.append(execution.id, "step.started", {}, producer_id="t")
    await log.append(execution.id, "plan.approval_requested", {"steps": 2}, producer_id="t")
    await log.append(execution.id, "execution.failed", {"error": {"code": "x"}}, producer_id="t")

    found = await messages(sessions, feature_execution_id=execution.id)
    assert sorted(m.event_type for m in found) == ["execution.failed", "plan.approval_requested"]
    assert {m.subscription_id for m in found} == {sub.id}


async def test_a_batch_that_loses_a_same_id_race_in_its_transaction_lands_once_without_a_gap(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring
) -> None:
    execution = await subscribed_execution(sessions, webhook_keyring)
    w, x, y, z = (uuid.uuid4() for _ in range(4))

    def staged(store: EventStore, *batch: tuple[uuid.UUID, str]) -> None:
        for eid, kind in batch:
            store.stage(execution.id, kind, {"n": str(eid)}, producer_id="t", event_id=eid)

    async with sessions.begin() as session:  # stored before the race: seq 1
        await append(session, execution.id, "step.started", {}, producer_id="t", event_id=w)
    async with sessions() as first, sessions() as second:
        await first.begin()
        early = EventStore(first)
        staged(early, (y, "step.started"), (z, "execution.completed"))
        await early.flush()  # seq 2 and 3, not committed: holds the stream's row lock

        await second.begin()
        late = EventStore(second)
        # its snapshot cannot see y yet: the first attempt numbers y 4 (skipped) and x 5
        staged(late, (y, "step.started"), (x, "execution.completed"), (x, "execution.completed"),
               (w, "step.started"))  # fmt: skip
        racing = asyncio.create_task(late.flush())
        await asyncio.sleep(0.5)
        assert not racing.done()  # waiting for the row lock
        await first.commit()
        landed = await asyncio.wait_for(racing, 10)
        await second.commit()

    assert [(e.id, e.sequence_number, e.created) for e in landed] == [
        (y, 2, False), (x, 4, True), (x, 4, False), (w, 1, False)
    ]  # fmt: skip
    assert await stored_sequences(sessions, execution.id) == [1, 2, 3, 4]
    async with sessions() as session:
        cursor = await session.scalar(
            select(FeatureExecutionRow.sequence_cursor).where(
                FeatureExecutionRow.id == execution.id
            )
        )
    assert cursor == 4
    found = await messages(sessions, feature_execution_id=execution.id)
    assert sorted(str(m.event_id) for m in found) == sorted([str(x), str(z)])
    # the first attempt's message (x numbered 5) went with its event
    numbered = [json.loads(m.payload)["data"]["sequence_number"] for m in found if m.event_id == x]
    assert numbered == [4]

"""Webhook subscriptions, their vault-encrypted signing secrets, and the outbox.

Tenant-facing repositories (`WebhookSubscriptions`, `WebhookMessages`) work inside the
caller's transaction and never commit; a row of another tenant is "not found". The
dispatcher side (`claim_due`, `finish_attempt`) owns short transactions of its own: a
claim leases due messages with FOR UPDATE SKIP LOCKED by pushing `next_attempt_at` past the
lease and counting the attempt, so a dispatcher that dies mid-delivery loses nothing: once
the lease runs out another one claims the message again, with the same webhook-id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import NotFound
from domain.webhooks import WebhookMessageStatus
from persistence.repositories.base import UNSET, Unset, as_uuid, check_paging, set_values
from persistence.tables import (
    WebhookAttemptRow,
    WebhookMessageRow,
    WebhookSecretRow,
    WebhookSubscriptionRow,
)
from persistence.vault import (
    Envelope,
    Keyring,
    VaultError,
    WebhookSecretBinding,
    open_envelope,
    rewrap,
    seal,
)

MESSAGE_ID_PREFIX = "msg_"


def message_header_id(message_id: uuid.UUID) -> str:
    """The `webhook-id` of a message: stable across every attempt and redelivery."""
    return MESSAGE_ID_PREFIX + message_id.hex


def parse_message_id(value: str) -> uuid.UUID:
    """A message id as the API shows it (`msg_<hex>`) or as a plain UUID."""
    raw = value.removeprefix(MESSAGE_ID_PREFIX)
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"webhook message {value!r} not found") from None


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as the API shows it: never a secret."""

    id: uuid.UUID
    url: str
    description: str | None
    event_types: tuple[str, ...]
    active: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookSubscriptionRow) -> SubscriptionView:
        return cls(
            id=row.id,
            url=row.url,
            description=row.description,
            event_types=tuple(row.event_types),
            active=row.active,
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class MessageView:
    """One outbox message and where its delivery stands."""

    id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    execution_id: uuid.UUID | None
    status: WebhookMessageStatus
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    payload: bytes
    created_at: datetime

    @property
    def header_id(self) -> str:
        return message_header_id(self.id)

    @classmethod
    def of(cls, row: WebhookMessageRow) -> MessageView:
        status = WebhookMessageStatus(row.status)
        return cls(
            id=row.id,
            subscription_id=row.subscription_id,
            event_id=row.event_id,
            event_type=row.event_type,
            execution_id=row.feature_execution_id,
            status=status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if status == WebhookMessageStatus.PENDING else None,
            delivered_at=row.delivered_at,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            payload=bytes(row.payload),
            created_at=row.created_at,
        )


@dataclass(frozen=True)
class AttemptView:
    """One delivery attempt."""

    attempt: int
    dispatcher_id: str
    started_at: datetime
    duration_ms: int | None
    outcome: str
    status_code: int | None
    error: str | None
    response_excerpt: str | None

    @classmethod
    def of(cls, row: WebhookAttemptRow) -> AttemptView:
        return cls(
            attempt=row.attempt,
            dispatcher_id=row.dispatcher_id,
            started_at=row.started_at,
            duration_ms=row.duration_ms,
            outcome=row.outcome,
            status_code=row.status_code,
            error=row.error,
            response_excerpt=row.response_excerpt,
        )


def _binding(row: WebhookSecretRow) -> WebhookSecretBinding:
    return WebhookSecretBinding(row.tenant_id, row.subscription_id, row.id)


def _sealed(
    keyring: Keyring, tenant_id: uuid.UUID, subscription_id: uuid.UUID, secret: str
) -> WebhookSecretRow:
    row = WebhookSecretRow(id=uuid.uuid4(), tenant_id=tenant_id, subscription_id=subscription_id)
    envelope = seal(keyring, _binding(row), secret.encode())
    row.encrypted_data = envelope.blob
    row.encryption_key_id = envelope.key_id
    return row


class WebhookSubscriptions:
    """Create, read, change, soft-delete and rotate the secret of a tenant's subscriptions."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self._session = session
        self._keyring = keyring

    async def _row(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str
    ) -> WebhookSubscriptionRow:
        sid = as_uuid(subscription_id, "webhook subscription")
        row = await self._session.scalar(
            select(WebhookSubscriptionRow).where(
                WebhookSubscriptionRow.id == sid,
                WebhookSubscriptionRow.tenant_id == tenant_id,
                WebhookSubscriptionRow.deleted_at.is_(None),
            )
        )
        if row is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return row

    async def create(
        self,
        tenant_id: uuid.UUID,
        url: str,
        event_types: list[str],
        secret: str,
        *,
        description: str | None = None,
        active: bool = True,
    ) -> SubscriptionView:
        """A new subscription signed with `secret` (the caller shows it once, then never)."""
        row = WebhookSubscriptionRow(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            url=url,
            description=description,
            event_types=sorted(set(event_types)),
            active=active,
        )
        self._session.add(row)
        await self._session.flush()
        self._session.add(_sealed(self._keyring, tenant_id, row.id, secret))
        await self._session.flush()
        await self._session.refresh(row)
        return SubscriptionView.of(row)

    async def get(self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str) -> SubscriptionView:
        return SubscriptionView.of(await self._row(tenant_id, subscription_id))

    async def page(
        self, tenant_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[SubscriptionView], int]:
        check_paging(limit, offset)
        live = (
            WebhookSubscriptionRow.tenant_id == tenant_id,
            WebhookSubscriptionRow.deleted_at.is_(None),
        )
        total = await self._session.scalar(
            select(func.count()).select_from(WebhookSubscriptionRow).where(*live)
        )
        rows = await self._session.scalars(
            select(WebhookSubscriptionRow)
            .where(*live)
            .order_by(WebhookSubscriptionRow.created_at, WebhookSubscriptionRow.id)
            .limit(limit)
            .offset(offset)
        )
        return [SubscriptionView.of(r) for r in rows], int(total or 0)

    async def update(
        self,
        tenant_id: uuid.UUID,
        subscription_id: uuid.UUID | str,
        *,
        url: str | Unset = UNSET,
        event_types: list[str] | Unset = UNSET,
        description: str | Unset | None = UNSET,
        active: bool | Unset = UNSET,
    ) -> SubscriptionView:
        row = await self._row(tenant_id, subscription_id)
        values: dict[str, Any] = set_values(url=url, description=description, active=active)
        if not isinstance(event_types, Unset):
            values["event_types"] = sorted(set(event_types))
        if values.get("active") is True:
            values["disabled_reason"] = None  # switching it back on clears the 410 note
        for name, value in values.items():
            setattr(row, name, value)
        await self._session.flush()
        await self._session.refresh(row)
        return SubscriptionView.of(row)

    async def delete(self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str) -> None:
        row = await self._row(tenant_id, subscription_id)
        row.deleted_at = datetime.now(UTC)
        row.active = False
        # the secrets are of no use any more: shred them
        await self._session.execute(
            delete(WebhookSecretRow).where(WebhookSecretRow.subscription_id == row.id)
        )
        await self._session.flush()

    async def rotate_secret(
        self,
        tenant_id: uuid.UUID,
        subscription_id: uuid.UUID | str,
        secret: str,
        previous_valid_for: timedelta,
    ) -> datetime:
        """Make `secret` the current one; the previous ones keep signing until the returned
        time, so receivers can switch without dropping a delivery."""
        row = await self._row(tenant_id, subscription_id)
        now = datetime.now(UTC)
        until = now + previous_valid_for
        # secrets that expired already are gone for good
        await self._session.execute(
            delete(WebhookSecretRow).where(
                WebhookSecretRow.subscription_id == row.id, WebhookSecretRow.expires_at <= now
            )
        )
        await self._session.execute(
            update(WebhookSecretRow)
            .where(
                WebhookSecretRow.subscription_id == row.id,
                (WebhookSecretRow.expires_at.is_(None)) | (WebhookSecretRow.expires_at > until),
            )
            .values(expires_at=until)
            .execution_options(synchronize_session=False)
        )
        self._session.add(_sealed(self._keyring, tenant_id, row.id, secret))
        row.updated_at = now
        await self._session.flush()
        return until


class WebhookMessages:
    """A tenant's view of the outbox: messages, their attempts, redelivery."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _subscription(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str
    ) -> uuid.UUID:
        sid = as_uuid(subscription_id, "webhook subscription")
        found = await self._session.scalar(
            select(WebhookSubscriptionRow.id).where(
                WebhookSubscriptionRow.id == sid,
                WebhookSubscriptionRow.tenant_id == tenant_id,
                WebhookSubscriptionRow.deleted_at.is_(None),
            )
        )
        if found is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return sid

    async def _row(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str, message_id: uuid.UUID
    ) -> WebhookMessageRow:
        sid = await self._subscription(tenant_id, subscription_id)
        row = await self._session.scalar(
            select(WebhookMessageRow).where(
                WebhookMessageRow.id == message_id,
                WebhookMessageRow.subscription_id == sid,
                WebhookMessageRow.tenant_id == tenant_id,
            )
        )
        if row is None:
            raise NotFound(f"webhook message {message_header_id(message_id)} not found")
        return row

    async def page(
        self,
        tenant_id: uuid.UUID,
        subscription_id: uuid.UUID | str,
        *,
        status: WebhookMessageStatus | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[MessageView], int]:
        check_paging(limit, offset)
        sid = await self._subscription(tenant_id, subscription_id)
        where = [WebhookMessageRow.tenant_id == tenant_id, WebhookMessageRow.subscription_id == sid]
        if status is not None:
            where.append(WebhookMessageRow.status == status.value)
        total = await self._session.scalar(
            select(func.count()).select_from(WebhookMessageRow).where(*where)
        )
        rows = await self._session.scalars(
            select(WebhookMessageRow)
            .where(*where)
            .order_by(WebhookMessageRow.created_at.desc(), WebhookMessageRow.id)
            .limit(limit)
            .offset(offset)
        )
        return [MessageView.of(r) for r in rows], int(total or 0)

    async def get(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str, message_id: uuid.UUID
    ) -> MessageView:
        return MessageView.of(await self._row(tenant_id, subscription_id, message_id))

    async def attempts(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str, message_id: uuid.UUID
    ) -> list[AttemptView]:
        row = await self._row(tenant_id, subscription_id, message_id)
        found = await self._session.scalars(
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.message_id == row.id)
            .order_by(WebhookAttemptRow.attempt)
        )
        return [AttemptView.of(a) for a in found]

    async def redeliver(
        self, tenant_id: uuid.UUID, subscription_id: uuid.UUID | str, message_id: uuid.UUID
    ) -> MessageView:
        """Queue the message again now, with a fresh attempt budget and the same webhook-id."""
        row = await self._row(tenant_id, subscription_id, message_id)
        row.status = WebhookMessageStatus.PENDING.value
        row.next_attempt_at = datetime.now(UTC)
        row.budget_start = row.attempts
        row.claimed_by = None
        await self._session.flush()
        await self._session.refresh(row)
        return MessageView.of(row)


# ---- the dispatcher's side ---------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedMessage:
    """A message leased to one dispatcher for one attempt, with what it needs to send it."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    event_type: str
    payload: bytes
    attempt: int
    # attempts made since the message was (re)queued, this one included
    budget_used: int
    secrets: tuple[str, ...]
    # why there are no secrets to sign with, when the vault could not open them
    secret_error: str | None = None

    @property
    def header_id(self) -> str:
        return message_header_id(self.id)


_CLAIM = text(
    """
WITH due AS (
    SELECT m.id FROM webhook_messages m
    JOIN webhook_subscriptions s ON s.id = m.subscription_id
    WHERE m.status = 'pending' AND m.next_attempt_at <= now()
      AND s.active AND s.deleted_at IS NULL
    ORDER BY m.next_attempt_at
    LIMIT :limit
    FOR UPDATE OF m SKIP LOCKED
)
UPDATE webhook_messages m
SET attempts = m.attempts + 1,
    next_attempt_at = now() + make_interval(secs => :lease),
    claimed_by = :dispatcher,
    updated_at = now()
FROM due, webhook_subscriptions s
WHERE m.id = due.id AND s.id = m.subscription_id
RETURNING m.id, m.tenant_id, m.subscription_id, m.event_type, m.payload, m.attempts,
          m.budget_start, s.url
"""
).bindparams(
    bindparam("limit", type_=Integer),
    bindparam("lease", type_=Float),
    bindparam("dispatcher", type_=String),
)

_INTERRUPTED = text(
    """
UPDATE webhook_attempts SET outcome = 'interrupted',
    error = 'the dispatcher stopped before recording an outcome (killed, or its lease ran out)'
WHERE message_id = ANY(:ids) AND outcome = 'in_progress'
"""
).bindparams(bindparam("ids", type_=ARRAY(PgUUID(as_uuid=True))))


async def claim_due(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    dispatcher_id: str,
    *,
    limit: int,
    lease_seconds: float,
) -> list[ClaimedMessage]:
    """Lease up to `limit` due messages of live subscriptions to `dispatcher_id`."""
    async with sessions() as session, session.begin():
        rows = (
            await session.execute(
                _CLAIM, {"limit": limit, "lease": lease_seconds, "dispatcher": dispatcher_id}
            )
        ).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        await session.execute(_INTERRUPTED, {"ids": ids})
        for r in rows:
            session.add(
                WebhookAttemptRow(
                    tenant_id=r.tenant_id,
                    message_id=r.id,
                    attempt=r.attempts,
                    dispatcher_id=dispatcher_id,
                    outcome="in_progress",
                )
            )
        secret_rows = (
            await session.scalars(
                select(WebhookSecretRow)
                .where(
                    WebhookSecretRow.subscription_id.in_({r.subscription_id for r in rows}),
                    (WebhookSecretRow.expires_at.is_(None))
                    | (WebhookSecretRow.expires_at > func.now()),
                )
                .order_by(WebhookSecretRow.created_at.desc())
            )
        ).all()
    by_subscription: dict[uuid.UUID, list[str]] = {}
    broken: dict[uuid.UUID, str] = {}
    for s in secret_rows:
        try:
            plain = open_envelope(
                keyring, _binding(s), Envelope(s.encrypted_data, s.encryption_key_id)
            )
        except VaultError as err:
            # one subscription's unreadable secret must not stop everyone else's deliveries
            broken[s.subscription_id] = err.message
            continue
        by_subscription.setdefault(s.subscription_id, []).append(plain.decode())
    return [
        ClaimedMessage(
            id=r.id,
            tenant_id=r.tenant_id,
            subscription_id=r.subscription_id,
            url=r.url,
            event_type=r.event_type,
            payload=bytes(r.payload),
            attempt=int(r.attempts),
            budget_used=int(r.attempts) - int(r.budget_start),
            secrets=tuple(by_subscription.get(r.subscription_id, ())),
            secret_error=broken.get(r.subscription_id),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt ended with and what happens next."""

    outcome: str  # delivered, failed, timeout, refused, error
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_excerpt: str | None = None
    # seconds until the next attempt; None when there is none (delivered or given up)
    retry_in: float | None = None
    # set when the receiver said 410 Gone: the subscription is switched off
    disable_reason: str | None = None


async def finish_attempt(
    sessions: async_sessionmaker[AsyncSession], claim: ClaimedMessage, result: AttemptOutcome
) -> bool:
    """Record the attempt and move the message on; False when the lease was lost meanwhile
    (another dispatcher owns the message now and this outcome only goes into the history)."""
    async with sessions() as session, session.begin():
        await session.execute(
            update(WebhookAttemptRow)
            .where(
                WebhookAttemptRow.message_id == claim.id,
                WebhookAttemptRow.attempt == claim.attempt,
            )
            .values(
                outcome=result.outcome,
                duration_ms=result.duration_ms,
                status_code=result.status_code,
                error=result.error,
                response_excerpt=result.response_excerpt,
            )
            .execution_options(synchronize_session=False)
        )
        values: dict[str, Any] = {
            "last_status_code": result.status_code,
            "last_error": result.error,
            "claimed_by": None,
            "updated_at": func.now(),
        }
        if result.outcome == "delivered":
            values.update(status=WebhookMessageStatus.DELIVERED.value, delivered_at=func.now())
        elif result.retry_in is None:
            values["status"] = WebhookMessageStatus.FAILED.value
        else:
            values["next_attempt_at"] = func.now() + timedelta(seconds=result.retry_in)
        moved = await session.execute(
            update(WebhookMessageRow)
            .where(
                WebhookMessageRow.id == claim.id,
                WebhookMessageRow.attempts == claim.attempt,
                WebhookMessageRow.status == WebhookMessageStatus.PENDING.value,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.disable_reason:
            await session.execute(
                update(WebhookSubscriptionRow)
                .where(WebhookSubscriptionRow.id == claim.subscription_id)
                .values(active=False, disabled_reason=result.disable_reason)
                .execution_options(synchronize_session=False)
            )
    return bool(getattr(moved, "rowcount", 0))


async def rotate_secret_keys(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, batch_size: int = 100
) -> int:
    """Re-wrap every webhook secret not under the primary vault key (data keys only, like
    credential rotation); returns how many were re-wrapped."""
    done = 0
    primary = keyring.primary_key_id
    while True:
        async with sessions() as session, session.begin():
            rows = (
                await session.scalars(
                    select(WebhookSecretRow)
                    .where(WebhookSecretRow.encryption_key_id != primary)
                    .order_by(WebhookSecretRow.id)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return done
            for row in rows:
                envelope = rewrap(
                    keyring, Envelope(row.encrypted_data, row.encryption_key_id), row.id
                )
                row.encrypted_data = envelope.blob
                row.encryption_key_id = envelope.key_id
            done += len(rows)

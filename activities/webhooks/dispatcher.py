"""The webhook dispatcher: claims due outbox messages, signs and POSTs them, records every
attempt, and schedules the next one with exponential backoff and jitter until a limit.

It runs as a task in the worker process (and so in `builder dev`); any number can run side
by side, because a claim is a lease taken with FOR UPDATE SKIP LOCKED. Delivery is at least
once: a dispatcher killed mid-POST leaves the message leased until the lease runs out, and
then another dispatcher sends it again under the same `webhook-id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.webhooks.destinations import DestinationPolicy, check_destination
from activities.webhooks.sender import SendResult, post
from activities.webhooks.signing import signature_header
from domain.errors import PolicyViolation
from persistence.vault import Keyring
from persistence.webhooks import AttemptOutcome, ClaimedMessage, claim_due, finish_attempt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookConfig:
    """How the dispatcher delivers (the composition root fills it from settings)."""

    policy: DestinationPolicy = field(default_factory=DestinationPolicy)
    timeout_seconds: float = 15.0
    max_response_bytes: int = 16 * 1024
    excerpt_chars: int = 512
    max_attempts: int = 30
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    # a claim lasts the request's timeout plus this, then another dispatcher may take it
    lease_margin_seconds: float = 30.0
    poll_seconds: float = 1.0
    batch_size: int = 20

    @property
    def lease_seconds(self) -> float:
        return self.timeout_seconds + self.lease_margin_seconds

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before attempt `attempt + 1`: base·2^(attempt-1), capped, ±20% jitter;
        a receiver's Retry-After is honoured when it asks for longer."""
        delay = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        delay *= random.uniform(0.8, 1.2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_seconds))
        return max(0.0, min(delay, self.backoff_max_seconds))


class WebhookDispatcher:
    """Delivers the outbox for every tenant."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: Keyring,
        config: WebhookConfig,
        dispatcher_id: str,
    ) -> None:
        self.sessions = sessions
        self.keyring = keyring
        self.config = config
        self.dispatcher_id = dispatcher_id
        # no redirects, no environment proxies: a webhook goes where it was checked to go
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; database hiccups are logged and waited out."""
        try:
            while not stop.is_set():
                try:
                    claimed = await self.run_once()
                except Exception:
                    log.exception("webhook dispatcher %s: claiming failed", self.dispatcher_id)
                    claimed = 0
                if claimed < self.config.batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.config.poll_seconds)
        finally:
            await self.aclose()

    async def run_once(self) -> int:
        """Claim one batch of due messages and deliver them concurrently; how many."""
        claims = await claim_due(
            self.sessions,
            self.keyring,
            self.dispatcher_id,
            limit=self.config.batch_size,
            lease_seconds=self.config.lease_seconds,
        )
        if claims:
            await asyncio.gather(*(self._deliver(c) for c in claims))
        return len(claims)

    async def _deliver(self, claim: ClaimedMessage) -> None:
        started = time.monotonic()
        try:
            result = await self._attempt(claim)
        except Exception as err:  # a bug must not stop the other deliveries
            log.exception("webhook %s: delivery attempt crashed", claim.header_id)
            result = SendResult(
                "error", int((time.monotonic() - started) * 1000), error=type(err).__name__
            )
        outcome = self._outcome(claim, result)
        try:
            kept = await finish_attempt(self.sessions, claim, outcome)
        except Exception:
            # the lease runs out and another attempt follows: at least once still holds
            log.exception("webhook %s: recording attempt %d failed", claim.header_id, claim.attempt)
            return
        log.info(
            "webhook %s attempt %d to subscription %s: %s%s",
            claim.header_id,
            claim.attempt,
            claim.subscription_id,
            outcome.outcome,
            "" if kept else " (lease lost; recorded for history only)",
        )

    async def _attempt(self, claim: ClaimedMessage) -> SendResult:
        started = time.monotonic()
        try:
            # DNS now, not at subscription time: the name may point elsewhere today
            destination = await asyncio.to_thread(check_destination, claim.url, self.config.policy)
        except PolicyViolation as err:
            return SendResult(
                "refused", int((time.monotonic() - started) * 1000), error=err.message
            )
        if not claim.secrets:
            why = claim.secret_error or "the subscription has no signing secret"
            return SendResult("error", 0, error=why)
        timestamp = int(time.time())
        headers = {
            "webhook-id": claim.header_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                claim.secrets, claim.header_id, timestamp, claim.payload
            ),
        }
        return await post(
            self._client,
            destination,
            headers,
            claim.payload,
            timeout_seconds=self.config.timeout_seconds,
            max_response_bytes=self.config.max_response_bytes,
            excerpt_chars=self.config.excerpt_chars,
            redact=claim.secrets,
        )

    def _outcome(self, claim: ClaimedMessage, result: SendResult) -> AttemptOutcome:
        retry_in: float | None = None
        disable = None
        if result.gone:
            disable = "the receiver answered 410 Gone; switched off until re-activated"
        elif result.outcome != "delivered" and claim.budget_used < self.config.max_attempts:
            retry_in = self.config.backoff(claim.budget_used, result.retry_after)
        return AttemptOutcome(
            outcome=result.outcome,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
            response_excerpt=result.excerpt,
            retry_in=retry_in,
            disable_reason=disable,
        )

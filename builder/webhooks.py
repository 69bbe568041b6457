"""Composition of outbound webhooks: settings into the destination policy and dispatcher
config, and the dispatcher the worker process runs (`python -m builder.webhooks` runs one
on its own)."""

from __future__ import annotations

import asyncio
import signal
import socket
import uuid

from activities.webhooks import DestinationPolicy, WebhookConfig, WebhookDispatcher
from builder.settings import Settings


def destination_policy(settings: Settings) -> DestinationPolicy:
    """Private and loopback receivers only where allowed (dev, by default); plain http
    everywhere but production, like git remotes."""
    return DestinationPolicy(
        allow_private=settings.webhooks_may_reach_private_addresses,
        allow_http=not settings.is_production,
    )


def webhook_config(settings: Settings) -> WebhookConfig:
    return WebhookConfig(
        policy=destination_policy(settings),
        timeout_seconds=settings.webhook_timeout_seconds,
        max_attempts=settings.webhook_max_attempts,
        backoff_base_seconds=settings.webhook_backoff_base_seconds,
        backoff_max_seconds=settings.webhook_backoff_max_seconds,
        lease_margin_seconds=settings.webhook_lease_margin_seconds,
        poll_seconds=settings.webhook_poll_seconds,
    )


def dispatcher_id(prefix: str = "webhooks") -> str:
    return f"{prefix}:{socket.gethostname()}:{uuid.uuid4().hex[:8]}"


async def run_dispatcher(settings: Settings, stop: asyncio.Event) -> None:
    """A dispatcher with its own small connection pool, until `stop` is set."""
    from builder.deps import keyring_of
    from persistence.db import create_engine, session_factory

    if not settings.database_url:
        raise RuntimeError("no database configured: set BUILDER_DATABASE_URL")
    engine = create_engine(
        settings.database_url, pool_size=2, max_overflow=2, application_name="builder-webhooks"
    )
    try:
        dispatcher = WebhookDispatcher(
            session_factory(engine),
            keyring_of(settings),
            webhook_config(settings),
            dispatcher_id(),
        )
        await dispatcher.run(stop)
    finally:
        await engine.dispose()


async def _main() -> None:
    from builder.observability_setup import setup_process
    from builder.settings import get_settings

    settings = get_settings()
    setup_process(settings, "webhooks")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run_dispatcher(settings, stop)


if __name__ == "__main__":
    asyncio.run(_main())

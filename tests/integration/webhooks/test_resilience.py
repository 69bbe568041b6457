"""At least once, for real: a receiver that is down for a minute gets the event when it
returns, and a dispatcher process killed mid-delivery loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.vault import Keyring
from tests.integration.webhooks.conftest import (
    KEY,
    KEY_ID,
    Receiver,
    completed_execution_event,
    dispatcher,
    subscribe,
)
from tests.integration.webhooks.test_delivery import attempts_of, message_of

ROOT = Path(__file__).resolve().parents[3]


async def wait_status(
    sessions: async_sessionmaker[AsyncSession], event_id: uuid.UUID, status: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while (await message_of(sessions, event_id)).status != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"message did not become {status} within {timeout}s")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_receiver_down_for_a_minute_gets_the_event_when_it_returns_under_one_id(
    sessions: async_sessionmaker[AsyncSession], webhook_keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    receiver = Receiver()  # not listening yet: connections are refused
    _, secret = await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    receiver.secrets = [secret]
    _, event_id = await completed_execution_event(sessions, tenant)
    d = dispatcher(
        sessions,
        webhook_keyring,
        max_attempts=200,
        backoff_base_seconds=0.5,
        backoff_max_seconds=3.0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    started = time.monotonic()
    try:
        await asyncio.sleep(30)  # nothing listens
        assert (await message_of(sessions, event_id)).status == "pending"
        receiver.respond = lambda n: (503, b"maintenance")
        receiver.start()  # up, but answering 503
        await asyncio.sleep(30)
        assert (await message_of(sessions, event_id)).status == "pending"
        receiver.respond = lambda n: (200, b"ok")
        await wait_status(sessions, event_id, "delivered", timeout=30)
    finally:
        stop.set()
        await task
        receiver.stop()

    assert time.monotonic() - started >= 60
    message = await message_of(sessions, event_id)
    outcomes = [a.outcome for a in await attempts_of(sessions, message.id)]
    assert outcomes[-1] == "delivered" and outcomes.count("delivered") == 1
    assert "error" in outcomes and "failed" in outcomes  # refused, then 503
    assert len(outcomes) == message.attempts >= 6
    seen = receiver.deliveries
    assert {d.webhook_id for d in seen} == {f"msg_{message.id.hex}"}
    assert all(d.verified_by == [0] for d in seen)
    assert len(seen) == outcomes.count("failed") + 1


def _dispatcher_process(database_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BUILDER_ENVIRONMENT": "test",
        "BUILDER_DATABASE_URL": database_url,
        "BUILDER_VAULT_KEYS": f"{KEY_ID}:{KEY}",
        "BUILDER_STATE_DIR": str(tmp_path),
        "BUILDER_WEBHOOK_ALLOW_PRIVATE_DESTINATIONS": "true",
        "BUILDER_WEBHOOK_TIMEOUT_SECONDS": "3",
        "BUILDER_WEBHOOK_LEASE_MARGIN_SECONDS": "1",
        "BUILDER_WEBHOOK_POLL_SECONDS": "0.1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "builder.webhooks"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_dispatcher_killed_mid_delivery_loses_nothing(
    sessions: async_sessionmaker[AsyncSession],
    webhook_keyring: Keyring,
    receiver: Receiver,
    database_url: str,
    tmp_path: Path,
) -> None:
    tenant = uuid.uuid4()
    _, secret = await subscribe(sessions, webhook_keyring, tenant, receiver.url)
    receiver.secrets = [secret]
    receiver.hang_seconds = 2.0  # the first POST is still in flight when the kill comes
    _, event_id = await completed_execution_event(sessions, tenant)
    process = _dispatcher_process(database_url, tmp_path)
    try:
        await asyncio.to_thread(receiver.wait_for, 1, 30.0)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    receiver.hang_seconds = 0.0
    assert (await message_of(sessions, event_id)).status == "pending"

    # another dispatcher takes the message over once the dead one's lease runs out
    d = dispatcher(sessions, webhook_keyring)
    stop = asyncio.Event()
    task = asyncio.create_task(d.run(stop))
    try:
        await wait_status(sessions, event_id, "delivered", timeout=30)
    finally:
        stop.set()
        await task

    message = await message_of(sessions, event_id)
    attempts = await attempts_of(sessions, message.id)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, "interrupted"), (2, "delivered")]
    assert attempts[0].dispatcher_id != attempts[1].dispatcher_id
    first, second = receiver.deliveries[:2]
    assert first.webhook_id == second.webhook_id == f"msg_{message.id.hex}"
    assert first.verified_by == second.verified_by == [0]

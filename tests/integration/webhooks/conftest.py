"""A local webhook receiver that checks signatures with the Standard Webhooks reference
library, and helpers to subscribe, append events and run dispatchers."""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from activities.webhooks import DestinationPolicy, WebhookConfig, WebhookDispatcher, generate_secret
from persistence.events import append
from persistence.vault import Keyring
from persistence.webhooks import SubscriptionView, WebhookSubscriptions
from tests.fixtures.git_servers import free_port
from tests.integration.persistence.factories import committed_execution

KEY_ID = "webhook-test-key"
KEY = base64.b64encode(os.urandom(32)).decode()


@dataclass
class Delivery:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes
    verified_by: list[int]  # indexes of the receiver's secrets whose signature matched
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1 that can be down, fail, hang or answer."""

    port: int = field(default_factory=free_port)
    # a path of its own: a message some earlier test left for a reused port is not ours
    path: str = field(default_factory=lambda: f"/hooks/{uuid.uuid4().hex}")
    secrets: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    # status to answer the next request with; callable so tests can change phases
    respond: Callable[[int], tuple[int, bytes]] = lambda n: (200, b'{"ok":true}')
    hang_seconds: float = 0.0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != receiver.path:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for index, secret in enumerate(receiver.secrets):
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(index)
                    except WebhookVerificationError:
                        pass
                with receiver._lock:
                    receiver.deliveries.append(Delivery(headers, body, verified, time.time()))
                    number = len(receiver.deliveries)
                if receiver.hang_seconds:
                    time.sleep(receiver.hang_seconds)
                status, payload = receiver.respond(number)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.deliveries) >= count:
                return list(self.deliveries)
            time.sleep(0.02)
        raise AssertionError(f"receiver got {len(self.deliveries)} of {count} deliveries")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def webhook_keyring() -> Keyring:
    """A keyring a dispatcher subprocess can be given as BUILDER_VAULT_KEYS."""
    return Keyring.parse(f"{KEY_ID}:{KEY}")


def fast_config(**overrides: Any) -> WebhookConfig:
    values: dict[str, Any] = {
        "policy": DestinationPolicy(allow_private=True),
        "timeout_seconds": 3.0,
        "backoff_base_seconds": 0.2,
        "backoff_max_seconds": 1.0,
        "lease_margin_seconds": 1.0,
        "poll_seconds": 0.1,
        "max_attempts": 5,
    }
    values.update(overrides)
    return WebhookConfig(**values)


def dispatcher(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, **overrides: Any
) -> WebhookDispatcher:
    return WebhookDispatcher(sessions, keyring, fast_config(**overrides), f"test-{uuid.uuid4()}")


async def subscribe(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    tenant_id: uuid.UUID,
    url: str,
    event_types: list[str] | None = None,
    *,
    active: bool = True,
) -> tuple[SubscriptionView, str]:
    secret = generate_secret()
    async with sessions.begin() as session:
        view = await WebhookSubscriptions(session, keyring).create(
            tenant_id, url, event_types or ["execution.completed"], secret, active=active
        )
    return view, secret


async def completed_execution_event(
    sessions: async_sessionmaker[AsyncSession],
    tenant_id: uuid.UUID,
    event_type: str = "execution.completed",
    payload: dict[str, Any] | None = None,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A committed execution of the tenant and one appended event; (execution, event) ids."""
    execution = await committed_execution(sessions, tenant_id)
    event_id = uuid.uuid4()
    async with sessions.begin() as session:
        await append(
            session,
            execution.id,
            event_type,
            payload or {"result": {"branch_name": "builder/x", "commit_sha": "a" * 40}},
            producer_id="tests",
            event_id=event_id,
        )
    return execution.id, event_id

"""`builder webhooks ...` against a real API server (uvicorn on a port, real Postgres)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.webhooks import DestinationPolicy
from api.admin import create_api_key
from api.app import create_app
from api.deps import ApiDeps, LazyTemporalClient
from builder.cli import main
from builder.cli.exits import ExitCode
from builder.stack.ports import free_port
from persistence.artifacts.local import LocalArtifactStore
from persistence.db import create_engine, session_factory
from persistence.vault import Keyring
from tests.integration.api.conftest import api_config
from tests.integration.webhooks.conftest import completed_execution_event


@pytest.fixture
def api_url(database_url: str, webhook_keyring: Keyring, tmp_path: Path) -> Iterator[str]:
    """The API in a thread with its own event loop and its own database pool."""
    port = free_port()
    deps = ApiDeps(
        sessions=session_factory(create_engine(database_url, pool_size=2, max_overflow=0)),
        temporal=LazyTemporalClient("127.0.0.1:1"),
        artifacts=LocalArtifactStore(tmp_path / "artifacts"),
        keyring=webhook_keyring,
        database_url=database_url,
        config=api_config(tmp_path, webhooks=DestinationPolicy(allow_private=True)),
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(deps), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def cli(capsys: pytest.CaptureFixture[str], url: str, key: str, *argv: str) -> tuple[int, str]:
    code = main([*argv, "--api-url", url, "--api-key", key])
    return code, capsys.readouterr().out


async def test_webhooks_commands_manage_a_subscription_end_to_end(
    api_url: str,
    sessions: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    tenant = uuid.uuid4()
    _, key = await create_api_key(sessions, tenant, "cli")

    def run(*argv: str) -> tuple[int, str]:
        return cli(capsys, api_url, key, *argv)

    code, out = await asyncio.to_thread(
        run,
        "webhooks",
        "add",
        "http://127.0.0.1:9/hook",
        "--event",
        "execution.completed",
        "--event",
        "pull_request.opened",
        "--description",
        "chat bridge",
    )
    assert code == 0 and "signing secret (shown once" in out
    hook_id = out.split()[1]
    secret = out.strip().rsplit(" ", 1)[1]
    assert secret.startswith("whsec_")

    code, out = await asyncio.to_thread(run, "webhooks", "list")
    assert code == 0 and hook_id in out and "execution.completed, pull_request.opened" in out
    assert secret not in out

    code, out = await asyncio.to_thread(run, "webhooks", "update", hook_id, "--inactive")
    assert code == 0 and "inactive" in out
    code, out = await asyncio.to_thread(run, "webhooks", "update", hook_id, "--active")
    assert code == 0 and out.rstrip().endswith("active")

    code, out = await asyncio.to_thread(run, "webhooks", "rotate", hook_id, "--grace", "60")
    assert code == 0 and "new signing secret" in out and secret not in out

    await completed_execution_event(sessions, tenant)
    code, out = await asyncio.to_thread(run, "webhooks", "messages", hook_id, "--json")
    assert code == 0
    assert '"event_type": "execution.completed"' in out and '"status": "pending"' in out
    message_id = out.split('"id": "')[1].split('"')[0]
    code, out = await asyncio.to_thread(run, "webhooks", "attempts", hook_id, message_id)
    assert code == 0 and out.strip() == "no attempts yet"
    code, out = await asyncio.to_thread(run, "webhooks", "redeliver", hook_id, message_id)
    assert code == 0 and f"queued again: {message_id}" in out

    code, out = await asyncio.to_thread(run, "webhooks", "rm", hook_id)
    assert code == 0
    assert (
        main(["webhooks", "show", hook_id, "--api-url", api_url, "--api-key", key])
        == ExitCode.NOT_FOUND
    )  # deleted
    assert capsys.readouterr().err.startswith("builder: Not found: webhook subscription")

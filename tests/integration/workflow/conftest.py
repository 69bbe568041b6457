"""A worker against the real Temporal dev server, Postgres and local git remotes."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from builder.settings import Settings
from builder.stack.temporal import TemporalDevServer
from builder.worker import run_worker
from domain.contracts import TASK_QUEUE
from tests.fixtures.executions import Harness

VAULT_KEY = "k1:" + base64.b64encode(os.urandom(32)).decode()


def worker_settings(
    database_url: str, temporal: TemporalDevServer, state: Path, **extra: Any
) -> Settings:
    return Settings(
        environment="test",
        state_dir=state,
        database_url=database_url,
        temporal_address=temporal.address,
        task_queue=extra.pop("task_queue", TASK_QUEUE),
        allow_local_remotes=True,
        vault_keys=VAULT_KEY,
        worker_id=extra.pop("worker_id", f"w-{uuid.uuid4().hex[:8]}"),
        **extra,
    )


@pytest.fixture
async def harness(sessions, temporal_client: Client) -> Harness:
    return Harness(sessions, temporal_client, f"builder-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def running_worker(
    database_url: str, temporal_server: TemporalDevServer, harness: Harness, tmp_path: Path
) -> AsyncIterator[Settings]:
    settings = worker_settings(
        database_url, temporal_server, tmp_path / "state", task_queue=harness.task_queue
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    await asyncio.sleep(0.5)
    yield settings
    stop.set()
    await asyncio.wait_for(task, 30)

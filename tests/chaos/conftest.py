"""Fault injection: workers as real processes we can SIGKILL, a Temporal dev server with a
SQLite file we can restart, and Postgres connections we can cut."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from builder.deps import WORKER_APPLICATION_NAME
from builder.stack.temporal import TemporalDevServer
from tests.fixtures.executions import Harness
from tests.integration.workflow.conftest import VAULT_KEY

STATES = {"pending": 1, "analyzing": 2, "planning": 3, "executing": 4, "verifying": 5}
CHANGES = [
    {"op": "write_file", "path": "pkg/feature.py", "content": "VALUE = 1\n"},
    {
        "op": "replace_text",
        "path": "src/pkg0/file_0.txt",
        "search": "line 0 of",
        "replace": "LINE 0 of",
    },
    {"op": "write_file", "path": "docs/feature.md", "content": "# feature\n"},
]
# slow enough phases that a fault lands inside them
SLOW = {"build_command": "sleep 2", "test_command": "sleep 1"}


@dataclass
class WorkerProcess:
    """`builder worker` as a child process with its own state dir and a fixed worker id."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started: list[int] = field(default_factory=list)

    def start(self) -> WorkerProcess:
        out = open(self.log, "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "builder.cli", "worker"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(self.process.pid)
        return self

    def kill(self) -> None:
        """SIGKILL the worker and everything it started, as a crash would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def worker_env(
    database_url: str, temporal_address: str, state: Path, task_queue: str, worker_id: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    env.update(
        BUILDER_ENVIRONMENT="test",
        BUILDER_STATE_DIR=str(state),
        BUILDER_DATABASE_URL=database_url,
        BUILDER_TEMPORAL_ADDRESS=temporal_address,
        BUILDER_TASK_QUEUE=task_queue,
        BUILDER_WORKER_ID=worker_id,
        BUILDER_ALLOW_LOCAL_REMOTES="true",
        BUILDER_VAULT_KEYS=VAULT_KEY,
        BUILDER_LOG_JSON="true",
    )
    return env


@pytest.fixture
def chaos_temporal(tmp_path: Path) -> Iterator[TemporalDevServer]:
    """A Temporal dev server of this test alone, persisted in a SQLite file (restartable)."""
    server = TemporalDevServer(db_file=tmp_path / "temporal.db", log_file=tmp_path / "temporal.log")
    server.start()
    yield server
    server.stop()


async def connect(server: TemporalDevServer) -> Client:
    return await Client.connect(server.address, data_converter=pydantic_data_converter)


@pytest.fixture
async def chaos(
    database_url: str, sessions: Any, chaos_temporal: TemporalDevServer, tmp_path: Path
) -> AsyncIterator[ChaosRig]:
    client = await connect(chaos_temporal)
    queue = f"chaos-{uuid.uuid4().hex[:8]}"
    rig = ChaosRig(
        harness=Harness(sessions, client, queue),
        database_url=database_url,
        temporal=chaos_temporal,
        state=tmp_path / "state",
        queue=queue,
        tmp=tmp_path,
    )
    yield rig
    for worker in rig.workers:
        worker.stop()


@dataclass
class ChaosRig:
    harness: Harness
    database_url: str
    temporal: TemporalDevServer
    state: Path
    queue: str
    tmp: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def worker(self, worker_id: str = "chaos-worker") -> WorkerProcess:
        env = worker_env(
            self.database_url, self.temporal.address, self.state, self.queue, worker_id
        )
        w = WorkerProcess(env=env, log=self.tmp / f"worker-{worker_id}.log").start()
        self.workers.append(w)
        return w

    async def start_batch(
        self, tenant: uuid.UUID, bare_remote: Any, count: int, name: str
    ) -> list[tuple[Path, uuid.UUID, str]]:
        """`count` executions, each on its own repository: (remote, execution id, workflow id)."""
        runs = []
        for n in range(count):
            remote = bare_remote(files=30, name=f"{name}-{n}")
            repo_id = await self.harness.repository(tenant, str(remote), SLOW)
            execution_id, handle = await self.harness.start(tenant, repo_id, CHANGES)
            runs.append((remote, execution_id, handle.id))
        return runs

    async def assert_batch_completed(
        self, sessions: Any, tenant: uuid.UUID, runs: list[tuple[Path, uuid.UUID, str]]
    ) -> None:
        """Every run completes exactly once (asked through the current client)."""
        from domain.contracts import FeatureExecutionOutput
        from tests.chaos.invariants import assert_completed_exactly_once

        for remote, execution_id, workflow_id in runs:
            handle = self.harness.client.get_workflow_handle(
                workflow_id, result_type=FeatureExecutionOutput
            )
            outcome = await asyncio.wait_for(handle.result(), 180)
            assert outcome.state == "completed", outcome
            await assert_completed_exactly_once(
                sessions, tenant, execution_id, remote, len(CHANGES),
                self.state / "workspaces", self.tmp / f"scratch-{execution_id}",
            )  # fmt: skip

    async def reconnect(self) -> None:
        self.harness.client = await connect(self.temporal)

    async def cut_postgres_connections(self) -> int:
        """pg_terminate_backend the worker processes' connections to the test database; how
        many were cut (the test's own connections are not counted, nor touched)."""
        name = self.database_url.rpartition("/")[2].partition("?")[0]
        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND application_name = $2",
                name,
                WORKER_APPLICATION_NAME,
            )
            return sum(1 for r in rows if r[0])
        finally:
            await conn.close()

    async def in_flight(self, sessions: Any, tenant: uuid.UUID, runs: list[Any]) -> int:
        """How many of `runs` have not ended yet (a kill now hits work in progress)."""
        from persistence.uow import UnitOfWork

        async with UnitOfWork(sessions) as uow:
            states = [(await uow.executions.get(tenant, r[1])).state for r in runs]
        return sum(1 for s in states if s < 6)


async def wait_for_state(
    sessions: Any, tenant: uuid.UUID, execution_id: uuid.UUID, at_least: str, timeout: float = 60
) -> int:
    from persistence.uow import UnitOfWork

    target = STATES[at_least]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with UnitOfWork(sessions) as uow:
            state = (await uow.executions.get(tenant, execution_id)).state
        if state >= target:
            return int(state)
        assert loop.time() < deadline, f"execution stayed in state {state}"
        await asyncio.sleep(0.05)


async def started_attempts(handle: Any, activity_type: str) -> int:
    """The highest attempt at which an activity of `activity_type` started in the run."""
    from temporalio.api.enums.v1 import EventType

    scheduled: dict[int, str] = {}
    highest = 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if scheduled.get(attrs.scheduled_event_id) == activity_type:
                highest = max(highest, attrs.attempt)
    return highest

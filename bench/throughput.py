"""N concurrent no-op-ish executions on one worker against a bare Temporal workflow.

Starts Postgres (fresh database), a Temporal dev server and `builder worker` as a child
process. One warm-up execution counts the activities an execution runs (K) from its
history. Then for each N (10, 50, 200; --quick: 10) it starts N spec executions at once
(one small file write each, on a 10-file repository, no build or test command), waits
for all of them and reports completions per minute, p50/p95 latency (start to result),
the worker's peak RSS and the peak Postgres connections. The baseline is a bare Temporal
workflow of K trivial activities (bench/_bare_workflow.py) on its own worker process on
the same server, with the same N. Asserts nothing about timings.

    python bench/throughput.py [--quick] [--sizes 10,50,200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from _harness import (
    ROOT,
    Executions,
    Stack,
    connect_temporal,
    database_name,
    percentile,
    postgres_connections,
    stack,
    table,
    worker_settings,
)
from _worker_process import INSTALLED, wait_until_polling, worker_process
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from persistence.db import create_engine, session_factory
from tests.fixtures.git_servers import make_bare_repository

BARE_QUEUE = "bench-bare"


def change(n: int) -> list[dict[str, object]]:
    return [{"op": "write_file", "path": f"notes/note_{n}.md", "content": f"note {n}\n"}]


@dataclass
class Batch:
    """One batch's measurements."""

    n: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    peak_rss: int = 0
    peak_connections: int = 0
    worker_connections: int = 0
    worker_cpu: float = 0.0
    temporal_cpu: float = 0.0
    postgres_cpu: float = 0.0
    xids: int = 0

    @property
    def per_minute(self) -> float:
        return (self.n - self.failures) / self.seconds * 60 if self.seconds else 0.0


class Sampler:
    """Samples the workers' RSS (summed) and the database's connections until stopped."""

    def __init__(self, pids: list[int], stk: Stack, batch: Batch) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]
        self.stk = stk
        self.batch = batch
        self.task: asyncio.Task[None] | None = None
        temporal = stk.temporal.process
        self.temporal = psutil.Process(temporal.pid) if temporal else None
        self.cpu_start = (0.0, 0.0)
        self.postgres_start: dict[int, float] = {}
        self.xid_start = 0

    def _cpu(self) -> tuple[float, float]:
        """CPU seconds (user + system, children included) of the worker and Temporal."""

        def of(p: psutil.Process | None) -> float:
            if p is None:
                return 0.0
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                return float(t.user + t.system + t.children_user + t.children_system)
            return 0.0

        return sum(of(p) for p in self.procs), of(self.temporal)

    def _postgres_cpu(self) -> dict[int, float]:
        """CPU seconds of each Postgres process now that works for the benchmark: the
        backends of its database and the server's own processes (WAL writer, checkpointer),
        which serve every database; other databases' backends are left out."""
        database = database_name(self.stk.database_url)
        out: dict[int, float] = {}
        for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
            times, cmdline = p.info["cpu_times"], p.info["cmdline"]
            if p.info["name"] != "postgres" or times is None:
                continue
            if _backend_of_another_database(" ".join(cmdline or []), database):
                continue
            out[p.pid] = float(times.user + times.system)
        return out

    async def _next_xid(self) -> int:
        """The next transaction id the server will assign: the difference over a batch is
        the write transactions (and savepoints that wrote) it made, counted at once, where
        pg_stat_database lags up to 10 s behind an idle backend."""
        admin = await asyncpg.connect(self.stk.postgres_admin_url)
        try:
            return int(await admin.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())"))
        finally:
            await admin.close()

    def _worker_db_sockets(self) -> int:
        total = 0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                conns = proc.net_connections(kind="inet")
                total += sum(1 for c in conns if c.raddr and c.raddr.port == 5432)
        return total

    def _rss(self) -> int:
        total = 0
        for proc in self.procs:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    async def _run(self) -> None:
        admin = await asyncpg.connect(self.stk.postgres_admin_url)
        try:
            await self._sample(admin)
        finally:
            await admin.close()

    async def _sample(self, admin: asyncpg.Connection) -> None:
        while True:
            self.batch.peak_rss = max(self.batch.peak_rss, self._rss())
            self.batch.worker_connections = max(
                self.batch.worker_connections, self._worker_db_sockets()
            )
            self.batch.peak_connections = max(
                self.batch.peak_connections,
                await postgres_connections(admin, self.stk.database_url),
            )
            await asyncio.sleep(0.25)

    async def __aenter__(self) -> Sampler:
        self.xid_start = await self._next_xid()
        self.postgres_start = self._postgres_cpu()
        self.cpu_start = self._cpu()
        self.task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        worker, temporal = self._cpu()
        self.batch.worker_cpu = worker - self.cpu_start[0]
        self.batch.temporal_cpu = temporal - self.cpu_start[1]
        # backends that exited during the batch are not counted (the pools keep theirs)
        self.batch.postgres_cpu = sum(
            cpu - self.postgres_start.get(pid, 0.0) for pid, cpu in self._postgres_cpu().items()
        )
        self.batch.xids = await self._next_xid() - self.xid_start
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


def _backend_of_another_database(title: str, database: str) -> bool:
    """A client backend's title reads "postgres: ...: user database host(port) state" (or
    "[local]" for the host); the server's own processes name no host."""
    words = title.split()
    host = next(
        (i for i, w in enumerate(words) if w == "[local]" or (w.endswith(")") and "(" in w)),
        None,
    )
    return host is not None and host > 0 and words[host - 1] != database


async def run_batch(n: int, one: Callable[[int], Awaitable[bool]], batch: Batch) -> None:
    """Run `one(i)` for i < n concurrently; each returns success. Fills latencies/seconds."""

    async def timed(i: int) -> None:
        start = time.perf_counter()
        try:
            ok = await one(i)
        except Exception as err:
            print(f"  execution {i} failed: {err}", file=sys.stderr)
            ok = False
        batch.latencies.append(time.perf_counter() - start)
        batch.failures += not ok

    start = time.perf_counter()
    await asyncio.gather(*(timed(i) for i in range(n)))
    batch.seconds = time.perf_counter() - start


async def activities_per_execution(client: Client, workflow_id: str) -> int:
    count = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        count += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return count


@dataclass
class Timing:
    """Per activity type (or workflow task): how long tasks waited in queue and ran."""

    count: int = 0
    wait: float = 0.0
    run: float = 0.0


async def history_timings(client: Client, workflow_ids: list[str]) -> dict[str, Timing]:
    """Queue wait (scheduled -> started) and run time (started -> closed) per task kind,
    summed over the workflows' histories."""
    out: dict[str, Timing] = {}
    for wid in workflow_ids:
        scheduled: dict[int, tuple[str, float]] = {}
        started: dict[int, float] = {}
        async for ev in client.get_workflow_handle(wid).fetch_history_events():
            at = ev.event_time.ToDatetime().timestamp()
            kind = ev.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name = ev.activity_task_scheduled_event_attributes.activity_type.name
                scheduled[ev.event_id] = (name, at)
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
                scheduled[ev.event_id] = ("(workflow task)", at)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                started[ev.activity_task_started_event_attributes.scheduled_event_id] = at
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                started[ev.workflow_task_started_event_attributes.scheduled_event_id] = at
            elif kind in (
                EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
                EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            ):
                attrs = (
                    ev.activity_task_completed_event_attributes
                    if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                    else ev.workflow_task_completed_event_attributes
                )
                sid = attrs.scheduled_event_id
                if sid in scheduled and sid in started:
                    name, at_scheduled = scheduled[sid]
                    t = out.setdefault(name, Timing())
                    t.count += 1
                    t.wait += started[sid] - at_scheduled
                    t.run += at - started[sid]
    return out


def print_timings(title: str, timings: dict[str, Timing], executions: int) -> None:
    print(f"\n{title}")
    rows: list[list[object]] = [
        [name, t.count / executions, t.wait / executions, t.run / executions]
        for name, t in sorted(timings.items(), key=lambda kv: -kv[1].run - kv[1].wait)
    ]
    total_wait = sum(t.wait for t in timings.values()) / executions
    total_run = sum(t.run for t in timings.values()) / executions
    rows.append(["(sum)", "", total_wait, total_run])
    print(table(["task", "per execution", "queue wait s", "run s"], rows))


async def builder_batches(
    stk: Stack,
    sizes: list[int],
    worker_options: dict[str, Any],
    profile: Path | None = None,
    workers: int = 1,
) -> tuple[int, list[Batch]]:
    remote = make_bare_repository(stk.scratch / "remote.git", files=10)
    all_settings = []
    for w in range(workers):
        state = stk.scratch / f"worker-{w}"
        state.mkdir()
        all_settings.append(
            worker_settings(stk, state, worker_id=f"bench-throughput-{w}", **worker_options)
        )
    settings = all_settings[0]
    client = await connect_temporal(stk.temporal.address)
    engine = create_engine(stk.database_url, pool_size=8, max_overflow=0)
    executions = Executions(session_factory(engine), client, settings.task_queue)
    tenant = uuid.uuid4()
    repo_id = await executions.repository(tenant, str(remote))
    starts = asyncio.Semaphore(16)  # what a busy API would do: bounded concurrent starts
    batches: list[Batch] = []
    try:
        with contextlib.ExitStack() as running:
            procs = [
                running.enter_context(
                    worker_process(ws, stk.scratch / f"worker-{w}.log", profile if w == 0 else None)
                )
                for w, ws in enumerate(all_settings)
            ]
            for ws, proc in zip(all_settings, procs, strict=True):
                await wait_until_polling(client, ws, proc)
            # warm-up: mirror, imports, pools; and it tells us K
            _eid, handle = await executions.start(tenant, repo_id, change(-1))
            await handle.result()
            k = await activities_per_execution(client, handle.id)
            alone = await history_timings(client, [handle.id])
            for n in sizes:
                batch = Batch(n)
                ids: list[str] = []

                async def one(i: int, n: int = n, ids: list[str] = ids) -> bool:
                    async with starts:
                        _eid, h = await executions.start(
                            tenant, repo_id, change(n * 1000 + i), title=f"Note {n}-{i}"
                        )
                    ids.append(h.id)
                    return (await h.result()).state == "completed"

                async with Sampler([p.pid for p in procs], stk, batch):
                    await run_batch(n, one, batch)
                batches.append(batch)
                print(f"builder N={n}: {batch.seconds:.1f} s, {batch.failures} failed")
            sample = ids[:: max(1, len(ids) // 20)]
            loaded = await history_timings(client, sample)
    finally:
        await engine.dispose()
    print_timings("one builder execution alone (warm-up), per task kind", alone, 1)
    print_timings(
        f"builder executions at N={sizes[-1]} ({len(sample)} sampled), per execution",
        loaded,
        len(sample),
    )
    return k, batches


@contextlib.contextmanager
def bare_worker(stk: Stack) -> Iterator[subprocess.Popen[bytes]]:
    with open(stk.scratch / "bare-worker.log", "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "_bare_workflow.py"),
                "--address",
                stk.temporal.address,
                "--queue",
                BARE_QUEUE,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **INSTALLED},
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def bare_batches(stk: Stack, sizes: list[int], k: int) -> list[Batch]:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    client = await Client.connect(stk.temporal.address)
    starts = asyncio.Semaphore(16)
    batches: list[Batch] = []
    with bare_worker(stk) as proc:
        while True:  # wait for the worker to poll
            if proc.poll() is not None:
                raise RuntimeError("the bare worker exited; see bare-worker.log")
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=BARE_QUEUE),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            )
            if resp.pollers:
                break
            await asyncio.sleep(0.2)
        warm = await client.start_workflow(
            "BareWorkflow", k, id=f"bare-warm-{uuid.uuid4()}", task_queue=BARE_QUEUE
        )
        await warm.result()
        ids: list[str] = []
        for n in sizes:
            batch = Batch(n)
            ids = []

            async def one(i: int, ids: list[str] = ids) -> bool:
                async with starts:
                    h = await client.start_workflow(
                        "BareWorkflow", k, id=f"bare-{uuid.uuid4()}", task_queue=BARE_QUEUE
                    )
                ids.append(h.id)
                return bool(await h.result() >= 0)

            async with Sampler([proc.pid], stk, batch):
                await run_batch(n, one, batch)
            batches.append(batch)
            print(f"bare N={n}: {batch.seconds:.1f} s")
    sample = ids[:: max(1, len(ids) // 20)]
    print_timings(
        f"bare workflows at N={sizes[-1]} ({len(sample)} sampled), per workflow",
        await history_timings(client, sample),
        len(sample),
    )
    return batches


def report(k: int, builder: list[Batch], bare: list[Batch]) -> None:
    mib = 1024 * 1024
    rows: list[list[object]] = []
    for label, batches in (("builder", builder), ("bare Temporal", bare)):
        for b in batches:
            rows.append(
                [
                    f"{label} N={b.n}",
                    b.per_minute,
                    percentile(b.latencies, 50),
                    percentile(b.latencies, 95),
                    b.peak_rss / mib,
                    b.peak_connections,
                    b.worker_connections if label == "builder" else "-",
                    b.worker_cpu,
                    b.temporal_cpu,
                    b.postgres_cpu,
                    b.xids / b.n if b.n else 0.0,
                    b.failures,
                ]
            )
    print(f"\nactivities per execution (K, from a builder history): {k}\n")
    print(
        table(
            [
                "run",
                "done/min",
                "p50 s",
                "p95 s",
                "peak RSS MiB",
                "db conns",
                "worker conns",
                "worker CPU s",
                "Temporal CPU s",
                "Postgres CPU s",
                "xids/exec",
                "failed",
            ],
            rows,
        )
    )
    print("\nratios (builder / bare Temporal, same N)")
    for b, base in zip(builder, bare, strict=True):
        ratio = b.per_minute / base.per_minute if base.per_minute else float("nan")
        print(f"  N={b.n:<5} rate {ratio:6.2f}x   target >= 0.5x")
    if builder:
        last = builder[-1]
        print(f"  worker peak RSS at N={last.n}: {last.peak_rss / mib:.0f} MiB   target < 500 MiB")
    print(
        "\n'db conns' is the peak of pg_stat_activity for the benchmark database (the driver"
        " holds up to 8 of them); 'worker conns' counts the worker's own TCP sockets to :5432;"
        " CPU seconds are the batch's user+system time of the worker, of the Temporal server and"
        " of Postgres (the benchmark database's backends and the server's shared processes);"
        " 'xids/exec' counts the transaction ids the Postgres cluster assigned per execution"
        " (write transactions and the savepoints that wrote; other databases' writes during"
        " the batch would count too)."
    )


async def measure(
    stk: Stack,
    sizes: list[int],
    worker_options: dict[str, Any],
    profile: Path | None,
    workers: int,
) -> None:
    k, builder = await builder_batches(stk, sizes, worker_options, profile, workers)
    bare = await bare_batches(stk, sizes, k)
    print(f"\nbuilder worker processes: {workers} (RSS, CPU and worker conns summed)")
    report(k, builder, bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 10 only")
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument(
        "--db-pool",
        metavar="SIZE,OVERFLOW",
        help="the worker's database pool (default: the Settings defaults)",
    )
    parser.add_argument(
        "--profile-worker",
        type=Path,
        metavar="FILE",
        help="run the worker under cProfile and write its stats to FILE (slows it down)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="builder worker processes (default 1; RSS and CPU are summed over them)",
    )
    args = parser.parse_args()
    options: dict[str, Any] = {}
    if args.db_pool:
        size, overflow = (int(x) for x in args.db_pool.split(","))
        options = {"database_pool_size": size, "database_max_overflow": overflow}
    sizes = [10] if args.quick else [int(s) for s in args.sizes.split(",")]
    with stack("bench-throughput-") as stk:  # sync: it runs its own event loops
        asyncio.run(measure(stk, sizes, options, args.profile_worker, args.workers))


if __name__ == "__main__":
    main()

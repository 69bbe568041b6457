"""Latency of POST /v1/executions and GET /v1/executions/{id} against a trivial endpoint.

Starts Postgres (fresh database) and a Temporal dev server (POST starts workflows; no
worker is needed), then serves, one after the other, a trivial FastAPI app (`GET /ping`
-> {"ok": true}) and builder's API, each under uvicorn in its own process
(bench/_api_server.py). This process is the load: an httpx async client at a fixed
concurrency sending a bounded number of requests, after a warm-up. Prints p50/p99 and the
ratios of builder's p99 to the trivial endpoint's. Asserts nothing about timings.

    python bench/api_latency.py [--quick] [--requests 2000] [--concurrency 32]
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
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from _harness import (
    ROOT,
    Executions,
    Stack,
    connect_temporal,
    percentile,
    settings_env,
    stack,
    table,
    worker_settings,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from api.admin import create_api_key
from builder.stack.ports import free_port
from domain.contracts import WORKFLOW_NAME, FeatureExecutionInput
from domain.values import FeatureConstraints
from persistence.db import create_engine, session_factory
from workflows import search_attributes as sa

SERVER = ROOT / "bench" / "_api_server.py"
Request = Callable[[httpx.AsyncClient, int], Any]


@contextlib.contextmanager
def api_process(
    kind: str, env: dict[str, str], log_file: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Serve `kind` (builder or ping) on a free port; yields its base URL."""
    port = free_port()
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(SERVER), "--app", kind, "--port", str(port)],
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the API process exited with {proc.returncode}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code < 500:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s")
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def http_client(base_url: str, concurrency: int) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        yield client


async def load(
    client: httpx.AsyncClient, request: Request, count: int, concurrency: int
) -> tuple[list[float], float, dict[int, int]]:
    """Send `count` requests with `concurrency` in flight; latencies (s), seconds, statuses."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            start = time.perf_counter()
            response: httpx.Response = await request(client, i)
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start, statuses


async def measure(stk: Stack, count: int, concurrency: int) -> None:
    settings = worker_settings(stk, stk.scratch / "api-state", api_rate_limit_per_minute=10_000_000)
    env = settings_env(settings)
    engine = create_engine(stk.database_url, pool_size=2, max_overflow=0)
    sessions = session_factory(engine)
    tenant = uuid.uuid4()
    _key_id, api_key = await create_api_key(sessions, tenant, "bench")
    temporal = await connect_temporal(stk.temporal.address)
    repo_id = await Executions(sessions, temporal, "unused").repository(
        tenant, "https://git.example.com/acme/app.git"
    )
    await engine.dispose()
    headers = {"Authorization": f"Bearer {api_key}"}
    warmup = min(200, count // 5)
    # unloaded latency: the same requests sent one at a time, no queueing anywhere
    solo = max(50, count // 10)
    rows: list[list[object]] = []
    p99: dict[str, float] = {}

    def record(
        name: str, result: tuple[list[float], float, dict[int, int]], key: str | None = None
    ) -> None:
        latencies, seconds, statuses = result
        ms = [x * 1000 for x in latencies]
        p99[key or name] = percentile(ms, 99)
        rows.append(
            [
                name,
                len(ms),
                len(ms) / seconds,
                percentile(ms, 50),
                percentile(ms, 99),
                max(ms),
                " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())),
            ]
        )

    async def ping(c: httpx.AsyncClient, _i: int) -> httpx.Response:
        return await c.get("/ping")

    with api_process("ping", env, stk.scratch / "ping.log") as (url, proc):
        await wait_ready(url + "/ping", proc)
        async with http_client(url, concurrency) as client:
            await load(client, ping, warmup, concurrency)
            record("GET /ping (trivial FastAPI)", await load(client, ping, count, concurrency))
            record("  one at a time", await load(client, ping, solo, 1), "ping solo")

    created: list[str] = []

    async def post(c: httpx.AsyncClient, i: int) -> httpx.Response:
        response = await c.post(
            "/v1/executions",
            json={
                "repository_id": str(repo_id),
                "title": f"Bench execution {i}",
                "description": "Adds a note.",
                "changes": [{"op": "write_file", "path": f"notes/{i}.md", "content": "note\n"}],
                "requested_by": "bench",
            },
            headers={**headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        if response.status_code == 202:
            created.append(response.json()["id"])
        return response

    async def get(c: httpx.AsyncClient, i: int) -> httpx.Response:
        return await c.get(f"/v1/executions/{created[i % len(created)]}", headers=headers)

    with api_process("builder", env, stk.scratch / "api.log") as (url, proc):
        await wait_ready(url + "/healthz", proc)
        async with http_client(url, concurrency) as client:
            await load(client, post, warmup, concurrency)
            record("POST /v1/executions", await load(client, post, count, concurrency))
            record("  one at a time", await load(client, post, solo, 1), "post solo")
            if not created:
                raise RuntimeError("no POST succeeded; see api.log in the scratch directory")
            await load(client, get, warmup, concurrency)
            record("GET /v1/executions/{id}", await load(client, get, count, concurrency))
            record("  one at a time", await load(client, get, solo, 1), "get solo")

    # what POST waits on besides Postgres: the same StartWorkflowExecution the API's
    # WorkflowGateway.start sends (input, summary, search attributes), timed from here
    starts: list[float] = []
    for i in range(solo):
        begin = time.perf_counter()
        await temporal.start_workflow(
            WORKFLOW_NAME,
            FeatureExecutionInput(
                execution_id=str(uuid.uuid4()),
                tenant_id=str(tenant),
                repository_id=str(repo_id),
                title=f"Bench execution {i}",
                engine="spec",
                constraints=FeatureConstraints(),
            ),
            id=f"bench-{uuid.uuid4()}",
            task_queue="bench-unpolled",
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Bench execution {i}",
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.TENANT, str(tenant)),
                    SearchAttributePair(sa.REPOSITORY, str(repo_id)),
                    SearchAttributePair(sa.STATE, "pending"),
                ]
            ),
        )
        starts.append(time.perf_counter() - begin)
    record("Temporal start_workflow alone", (starts, sum(starts), {}))

    print(
        f"\n{count} requests per endpoint at concurrency {concurrency} after {warmup} warm-up;"
        f" then {solo} one at a time\n"
    )
    print(table(["endpoint", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "statuses"], rows))
    base = p99["GET /ping (trivial FastAPI)"]
    print(f"\nratios (p99 / trivial endpoint p99, at concurrency {concurrency})")
    post_p99, get_one = p99["POST /v1/executions"], p99["GET /v1/executions/{id}"]
    print(f"  POST /v1/executions      {post_p99 / base:6.2f}x   target <= 3x")
    print(f"  GET /v1/executions/{{id}} {get_one / base:6.2f}x   target <= 2x")
    solo_base = p99["ping solo"]
    print("ratios one at a time (p99 / trivial endpoint p99; unloaded, for reference)")
    print(f"  POST /v1/executions      {p99['post solo'] / solo_base:6.2f}x")
    print(f"  GET /v1/executions/{{id}} {p99['get solo'] / solo_base:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 requests per endpoint")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    count = 300 if args.quick else args.requests
    with stack("bench-api-") as stk:
        asyncio.run(measure(stk, count, args.concurrency))


if __name__ == "__main__":
    main()

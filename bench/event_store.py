"""Event store: append rate on one stream with concurrent writers, and SSE delivery latency.

Starts Postgres (fresh migrated database) and, for the SSE part, builder's API under
uvicorn in its own process (bench/_api_server.py; a Temporal server is started because
the API is configured with one, but nothing here uses it).

- append rate: W writers (8) append to ONE execution's stream at once, two ways:
  `persistence.events.append` in its own transaction per event (session per writer), and
  `persistence.events.EventLog.append`, which commits itself and groups the appends
  waiting on the same stream into one statement;
- the path executions use (issue #17): E concurrent executions (50), each appending to its
  own stream the way activities do — `UnitOfWork`, events staged with `Phase.emit`'s
  arguments (derived ids, correlation, producer), flushed in one statement at commit —
  once with one event per unit of work (a bookkeeping `record_event`) and once with four
  (a step's started / file changed / committed / completed), through an engine with the
  worker's pool size (`database_pool_size`);
- baseline: the same writers doing raw asyncpg INSERTs (autocommit) into a plain table
  without sequencing;
- SSE: a client follows `GET /v1/executions/{id}/events/stream` while this process
  appends events one at a time (EventLog, spaced); latency = append call -> the frame
  arriving at the client (and commit returned -> frame).
Prints a table and the ratios. Asserts nothing about timings.

    python bench/event_store.py [--quick] [--events 4000] [--writers 8] [--executions 50]
                                [--sse-events 300]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import httpx
from _harness import (
    Executions,
    Stack,
    connect_temporal,
    percentile,
    settings_env,
    stack,
    table,
    worker_settings,
)
from api_latency import api_process, wait_ready
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.admin import create_api_key
from builder.settings import Settings
from persistence.db import create_engine, session_factory
from persistence.events import EventLog, _batch_item, append, append_batch
from persistence.uow import UnitOfWork

EVENT_TYPE = "file.changed"
PAYLOAD = {"step_index": 1, "path": "src/app/module.py", "change_type": "modified"}
PRODUCER = "bench"


async def new_execution(
    sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, repo_id: uuid.UUID
) -> uuid.UUID:
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.create(
            tenant,
            repo_id,
            title="Event store benchmark",
            description="A stream to append to",
            target_branch="main",
            constraints=None,
            idempotency_key=uuid.uuid4().hex,
            engine="spec",
            changes=[{"op": "write_file", "path": "a.txt", "content": "a\n"}],
        )
        await uow.commit()
        return row.id


async def rate(writers: int, per_writer: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Events per second with `writers` concurrent loops of `per_writer` calls of `one`."""

    async def loop(w: int) -> None:
        for _ in range(per_writer):
            await one(w)

    start = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(writers)))
    return writers * per_writer / (time.perf_counter() - start)


async def append_rates(
    stk: Stack,
    sessions: async_sessionmaker[AsyncSession],
    stream: uuid.UUID,
    args: argparse.Namespace,
) -> list[list[object]]:
    per_writer = args.events // args.writers
    rows: list[list[object]] = []

    # baseline: plain INSERTs, no sequence, no lock, no trigger
    conns = [await asyncpg.connect(stk.database_url) for _ in range(args.writers)]
    await conns[0].execute(
        "CREATE TABLE bench_plain_events (id uuid PRIMARY KEY, stream uuid NOT NULL,"
        " event_type text NOT NULL, payload bytea NOT NULL, at timestamptz DEFAULT now())"
    )
    body = str(PAYLOAD).encode()

    async def plain(w: int) -> None:
        await conns[w].execute(
            "INSERT INTO bench_plain_events (id, stream, event_type, payload)"
            " VALUES ($1, $2, $3, $4)",
            uuid.uuid4(),
            stream,
            EVENT_TYPE,
            body,
        )

    await rate(args.writers, 20, plain)  # warm-up
    baseline = await rate(args.writers, per_writer, plain)
    for c in conns:
        await c.close()

    async def in_transaction(_w: int) -> None:
        async with sessions.begin() as session:
            await append(session, stream, EVENT_TYPE, PAYLOAD, producer_id=PRODUCER)

    await rate(args.writers, 20, in_transaction)
    transactional = await rate(args.writers, per_writer, in_transaction)

    engine = create_engine(stk.database_url, pool_size=args.writers, max_overflow=0)
    log = EventLog(engine)

    async def grouped(_w: int) -> None:
        await log.append(stream, EVENT_TYPE, PAYLOAD, producer_id=PRODUCER)

    await rate(args.writers, 20, grouped)
    grouped_rate = await rate(args.writers, per_writer, grouped)
    await engine.dispose()

    total = per_writer * args.writers
    rows.append(["raw asyncpg INSERT (baseline)", total, baseline, 1.0])
    rows.append(["events.append, one tx per event", total, transactional, transactional / baseline])
    rows.append(["EventLog.append (grouped)", total, grouped_rate, grouped_rate / baseline])
    return rows


async def production_rates(
    stk: Stack, tenant: uuid.UUID, repo_id: uuid.UUID, args: argparse.Namespace
) -> list[list[object]]:
    """Appends/s across `args.executions` executions through the unit of work, as the
    worker's activities append them (staged, flushed at commit), with the worker's pool.
    The first row is the statement a single staged event used before (the batch append in
    a savepoint), for comparison in the same run."""
    fields = Settings.model_fields
    engine = create_engine(
        stk.database_url,
        pool_size=fields["database_pool_size"].default,
        max_overflow=fields["database_max_overflow"].default,
    )
    sessions = session_factory(engine)
    streams = [await new_execution(sessions, tenant, repo_id) for _ in range(args.executions)]
    per_stream = max(1, args.events // args.executions)

    def staged(per_unit: int) -> Callable[[int], Awaitable[None]]:
        async def unit(w: int) -> None:
            async with UnitOfWork(sessions) as uow:
                for _ in range(per_unit):
                    uow.events.stage(
                        streams[w],
                        EVENT_TYPE,
                        PAYLOAD,
                        event_id=uuid.uuid4(),
                        correlation_id=streams[w],
                        producer_id=PRODUCER,
                    )
                await uow.commit()

        return unit

    async def batch_of_one(w: int) -> None:
        async with UnitOfWork(sessions) as uow:
            item = _batch_item(
                uuid.uuid4(), EVENT_TYPE, PAYLOAD, PRODUCER, None, streams[w], None, None
            )
            await append_batch(uow.session, streams[w], [item])
            await uow.session.commit()

    variants = [
        ("1 event per commit, batch statement (before)", 1, batch_of_one),
        ("1 event per commit (bookkeeping)", 1, staged(1)),
        ("4 events per commit (a step)", 4, staged(4)),
    ]
    rows: list[list[object]] = []
    for label, per_unit, unit in variants:
        await rate(args.executions, 2, unit)  # warm-up
        units = max(1, per_stream // per_unit)
        measured = await rate(args.executions, units, unit) * per_unit
        rows.append([label, units * per_unit * args.executions, measured])
    await engine.dispose()
    return rows


async def sse_latency(
    stk: Stack,
    sessions: async_sessionmaker[AsyncSession],
    tenant: uuid.UUID,
    api_key: str,
    stream: uuid.UUID,
    count: int,
) -> tuple[list[float], list[float]]:
    """(append call -> receipt, commit returned -> receipt) in ms per event."""
    settings = worker_settings(stk, stk.scratch / "api-state", api_rate_limit_per_minute=10**7)
    engine = create_engine(stk.database_url, pool_size=2, max_overflow=0)
    log = EventLog(engine)
    called: dict[int, float] = {}
    committed: dict[int, float] = {}
    received: dict[int, float] = {}
    opened = asyncio.Event()
    with api_process("builder", settings_env(settings), stk.scratch / "api.log") as (url, proc):
        await wait_ready(url + "/healthz", proc)

        async def follow() -> None:
            headers = {"Authorization": f"Bearer {api_key}"}
            async with (
                httpx.AsyncClient(base_url=url, timeout=None) as client,
                client.stream(
                    "GET", f"/v1/executions/{stream}/events/stream", headers=headers
                ) as response,
            ):
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if line.startswith(": stream open"):
                        opened.set()
                    elif line.startswith("id: "):
                        received[int(line[4:])] = time.perf_counter()

        reader = asyncio.create_task(follow())
        await asyncio.wait_for(opened.wait(), 30)
        for _ in range(20):  # warm-up: the notifier connection, pools
            await log.append(stream, EVENT_TYPE, PAYLOAD, producer_id=PRODUCER)
        await asyncio.sleep(0.5)
        received.clear()
        for _ in range(count):
            start = time.perf_counter()
            appended = await log.append(stream, EVENT_TYPE, PAYLOAD, producer_id=PRODUCER)
            called[appended.sequence_number] = start
            committed[appended.sequence_number] = time.perf_counter()
            await asyncio.sleep(0.01)
        deadline = time.monotonic() + 10
        while not all(s in received for s in called) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        reader.cancel()
    await engine.dispose()
    missing = [s for s in called if s not in received]
    if missing:
        print(f"  {len(missing)} event(s) never reached the SSE client: {missing[:5]}")
    total = [(received[s] - called[s]) * 1000 for s in called if s in received]
    after_commit = [(received[s] - committed[s]) * 1000 for s in called if s in received]
    return total, after_commit


async def measure(stk: Stack, args: argparse.Namespace) -> None:
    engine = create_engine(stk.database_url, pool_size=args.writers, max_overflow=0)
    sessions = session_factory(engine)
    tenant = uuid.uuid4()
    _key_id, api_key = await create_api_key(sessions, tenant, "bench")
    temporal = await connect_temporal(stk.temporal.address)
    repo_id = await Executions(sessions, temporal, "unused").repository(
        tenant, "https://git.example.com/acme/app.git"
    )
    append_stream = await new_execution(sessions, tenant, repo_id)
    sse_stream = await new_execution(sessions, tenant, repo_id)
    rows = await append_rates(stk, sessions, append_stream, args)
    production = await production_rates(stk, tenant, repo_id, args)
    await engine.dispose()
    total, after_commit = await sse_latency(
        stk, sessions, tenant, api_key, sse_stream, args.sse_events
    )

    print(f"\nappend rate: one stream, {args.writers} concurrent writers\n")
    print(table(["writer", "events", "events/s", "x baseline"], rows))
    baseline = float(rows[0][2])  # type: ignore[arg-type]
    print(
        f"\nappend rate on the path executions use: {args.executions} executions at once,"
        " one stream each\n"
    )
    print(
        table(
            ["writer", "events", "events/s", "x baseline"],
            [[*r, float(r[2]) / baseline] for r in production],  # type: ignore[arg-type]
        )
    )
    print(f"\nSSE delivery through the API, {len(total)} events appended one at a time\n")
    print(
        table(
            ["latency (ms)", "p50", "p99", "max"],
            [
                ["append call -> client", percentile(total, 50), percentile(total, 99), max(total)],
                [
                    "commit returned -> client",
                    percentile(after_commit, 50),
                    percentile(after_commit, 99),
                    max(after_commit),
                ],
            ],
        )
    )
    single = float(production[1][2])  # type: ignore[arg-type]
    print("\ntargets")
    print(
        f"  production path, one event per commit, {args.executions} executions"
        f" {single:8.0f}/s   target >= 2000/s"
    )
    print(f"  SSE p99 {percentile(total, 99):8.1f} ms   target < 50 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="800 appends, 100 SSE events")
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--executions", type=int, default=50)
    parser.add_argument("--sse-events", type=int, default=300)
    args = parser.parse_args()
    if args.quick:
        args.events, args.sse_events = 800, 100
    with stack("bench-events-") as stk:
        asyncio.run(measure(stk, args))


if __name__ == "__main__":
    main()

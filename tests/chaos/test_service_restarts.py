"""Restart the Temporal server and cut Postgres connections mid-run: executions complete."""

from __future__ import annotations

import asyncio
import uuid

from tests.chaos.conftest import wait_for_state


async def test_temporal_server_restart_mid_run_completes_every_execution(
    chaos, sessions, bare_remote
) -> None:
    tenant = uuid.uuid4()
    runs = await chaos.start_batch(tenant, bare_remote, 3, "t")
    chaos.worker()
    await wait_for_state(sessions, tenant, runs[0][1], "executing")

    chaos.temporal.kill()
    await asyncio.sleep(1)
    chaos.temporal.start()  # same SQLite file and port: every workflow is still there
    await chaos.reconnect()

    await chaos.assert_batch_completed(sessions, tenant, runs)


async def test_postgres_connections_cut_mid_run_completes_every_execution(
    chaos, sessions, bare_remote
) -> None:
    tenant = uuid.uuid4()
    runs = await chaos.start_batch(tenant, bare_remote, 3, "p")
    chaos.worker()
    await wait_for_state(sessions, tenant, runs[0][1], "executing")
    cut = 0
    for _ in range(3):
        cut += await chaos.cut_postgres_connections()
        await asyncio.sleep(0.7)
    assert cut > 0  # the worker's pooled connections were really severed

    await chaos.assert_batch_completed(sessions, tenant, runs)

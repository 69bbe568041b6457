"""Restart the Temporal server and cut Postgres connections mid-run: executions complete."""

from __future__ import annotations

import asyncio
import uuid

from tests.chaos.conftest import wait_for_state
from tests.chaos.invariants import assert_completed_exactly_once
from tests.chaos.test_worker_crashes import CHANGES, SLOW


async def test_temporal_server_restart_mid_run_completes_every_execution(
    chaos, sessions, bare_remote
) -> None:
    tenant = uuid.uuid4()
    runs = []
    for n in range(3):
        remote = bare_remote(files=30, name=f"t-{n}")
        repo_id = await chaos.harness.repository(tenant, str(remote), SLOW)
        execution_id, _ = await chaos.harness.start(tenant, repo_id, CHANGES)
        runs.append((remote, execution_id))
    chaos.worker()
    await wait_for_state(sessions, tenant, runs[0][1], "executing")

    chaos.temporal.kill()
    await asyncio.sleep(1)
    chaos.temporal.start()  # same SQLite file and port: every workflow is still there
    await chaos.reconnect()

    for remote, execution_id in runs:
        handle = chaos.harness.client.get_workflow_handle(
            await _workflow_id(sessions, tenant, execution_id)
        )
        outcome = await asyncio.wait_for(handle.result(), 180)
        assert outcome["state"] == "completed", outcome
        await assert_completed_exactly_once(
            sessions,
            tenant,
            execution_id,
            remote,
            len(CHANGES),
            chaos.state / "workspaces",
            chaos.tmp / f"scratch-{execution_id}",
        )


async def test_postgres_connections_cut_mid_run_completes_every_execution(
    chaos, sessions, bare_remote
) -> None:
    tenant = uuid.uuid4()
    runs = []
    for n in range(3):
        remote = bare_remote(files=30, name=f"p-{n}")
        repo_id = await chaos.harness.repository(tenant, str(remote), SLOW)
        execution_id, handle = await chaos.harness.start(tenant, repo_id, CHANGES)
        runs.append((remote, execution_id, handle))
    chaos.worker()
    await wait_for_state(sessions, tenant, runs[0][1], "executing")
    cut = 0
    for _ in range(3):
        cut += await chaos.cut_postgres_connections()
        await asyncio.sleep(0.7)
    assert cut > 0  # the worker's pooled connections were really severed

    for remote, execution_id, handle in runs:
        outcome = await asyncio.wait_for(handle.result(), 180)
        assert outcome.state == "completed", outcome
        await assert_completed_exactly_once(
            sessions,
            tenant,
            execution_id,
            remote,
            len(CHANGES),
            chaos.state / "workspaces",
            chaos.tmp / f"scratch-{execution_id}",
        )


async def _workflow_id(sessions, tenant, execution_id) -> str:
    from persistence.uow import UnitOfWork

    async with UnitOfWork(sessions) as uow:
        return (await uow.executions.get(tenant, execution_id)).workflow_id

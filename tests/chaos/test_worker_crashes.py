"""SIGKILL the worker mid-run: the execution still completes, once, with the same commits."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest

from tests.chaos.conftest import CHANGES, SLOW, STATES, started_attempts, wait_for_state
from tests.chaos.invariants import assert_completed_exactly_once


@pytest.mark.parametrize("phase", ["analyzing", "planning", "executing", "verifying"])
async def test_worker_killed_in_each_phase_completes_with_no_duplicates(
    chaos, sessions, bare_remote, phase: str
) -> None:
    remote = bare_remote(files=200)
    tenant = uuid.uuid4()
    repo_id = await chaos.harness.repository(tenant, str(remote), SLOW)
    worker = chaos.worker()
    execution_id, handle = await chaos.harness.start(tenant, repo_id, CHANGES)
    at_kill = await wait_for_state(sessions, tenant, execution_id, phase)
    worker.kill()
    # the kill landed inside the phase, not after the run moved on (or ended)
    assert at_kill == STATES[phase], f"the run was already past {phase} when killed"
    chaos.worker()  # same worker id: it resumes its own queue and finds its worktree

    outcome = await asyncio.wait_for(handle.result(), 120)
    assert outcome.state == "completed", outcome
    if phase == "verifying":
        # the build was running when the worker died: Temporal ran it again
        assert await started_attempts(handle, "verify") >= 2
    await assert_completed_exactly_once(
        sessions,
        tenant,
        execution_id,
        remote,
        len(CHANGES),
        chaos.state / "workspaces",
        chaos.tmp / "scratch",
    )


async def test_worker_gone_for_good_moves_the_worktree_to_another_worker(
    chaos, sessions, bare_remote
) -> None:
    remote = bare_remote(files=50)
    tenant = uuid.uuid4()
    repo_id = await chaos.harness.repository(tenant, str(remote), SLOW)
    first = chaos.worker("first")
    execution_id, handle = await chaos.harness.start(tenant, repo_id, CHANGES)
    await wait_for_state(sessions, tenant, execution_id, "verifying")
    first.kill()
    chaos.worker("second")  # a different host: the worktree is rebuilt from stored edits

    outcome = await asyncio.wait_for(handle.result(), 180)
    assert outcome.state == "completed", outcome
    await assert_completed_exactly_once(
        sessions,
        tenant,
        execution_id,
        remote,
        len(CHANGES),
        chaos.state / "workspaces",
        chaos.tmp / "scratch",
    )


async def test_batch_survives_repeated_random_worker_kills(chaos, sessions, bare_remote) -> None:
    rng = random.Random(7)
    tenant = uuid.uuid4()
    runs = await chaos.start_batch(tenant, bare_remote, 4, "batch")
    worker = chaos.worker()
    hit = []
    for _ in range(3):
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        hit.append(await chaos.in_flight(sessions, tenant, runs))
        worker.kill()
        worker = chaos.worker()
    assert all(n > 0 for n in hit), f"some kills hit no run in progress: {hit}"

    await chaos.assert_batch_completed(sessions, tenant, runs)

"""The wait for a tenant's execution slot with stubbed activities: a long wait continues as
new and then runs (the state goes to analyzing once), and a Temporal cancel during the wait
ends the run cancelled having taken and released nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError

from domain.contracts import AdmissionResult
from tests.integration.workflow.stubs import FAST, Stubs, blocked, start, stubbed_workers


@pytest.fixture
def queue() -> str:
    return f"admission-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stubs(queue: str) -> Stubs:
    return Stubs(worktree_queue=f"{queue}@worker")


async def test_a_long_admission_wait_continues_as_new_and_then_runs(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def full(inp: Any, attempt: int) -> AdmissionResult:
        waiting = len(stubs.named("admit")) <= 30
        return AdmissionResult(admitted=not waiting, position=3 if waiting else None, limit=2)

    stubs.on("admit", full)
    timings = FAST.model_copy(update={"history_events_limit": 60})
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue, timings=timings)
        outcome = await asyncio.wait_for(handle.result(), 60)

    assert outcome.state == "completed"
    admits = stubs.named("admit")
    assert len({c.run_id for c in admits}) >= 2, "the wait never continued as new"
    assert admits[0].arg.window_s == 0  # the first answer comes at once
    assert {c.arg.window_s for c in admits[1:]} >= {FAST.admission_window_s}
    assert stubs.states() == ["analyzing", "planning", "executing", "verifying", "completed"]
    # nothing was started before the slot was granted: analyzing came with the admission
    assert admits[-1].result.admitted and admits[-1].arg.state.state.label == "analyzing"
    assert all(not c.result.admitted for c in admits[:-1])
    assert stubs.calls.index(admits[-1]) < stubs.calls.index(stubs.named("acquire_lock")[0])


async def test_a_temporal_cancel_while_waiting_ends_cancelled_and_takes_nothing(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def waiting(inp: Any, attempt: int) -> Any:
        if inp.window_s == 0:
            return AdmissionResult(admitted=False, position=1, limit=1)
        return await blocked(inp, attempt)

    stubs.on("admit", waiting)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        deadline = asyncio.get_running_loop().time() + 20
        while len(stubs.named("admit")) < 2:
            assert asyncio.get_running_loop().time() < deadline, "never waited"
            await asyncio.sleep(0.05)
        assert await handle.query("state") == "pending"
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 30)

    assert stubs.states() == ["cancelled"]
    for name in ("acquire_lock", "release_lock", "open_workspace", "cleanup"):
        assert not stubs.named(name), name

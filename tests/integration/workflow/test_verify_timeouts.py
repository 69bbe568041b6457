"""The verify activity's own timeout, as the workflow schedules it: the tests' activity has
room for setup as well, because it builds the environment again when the build's is gone
(evicted, removed) by the time the tests run."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client

from domain.contracts import AnalysisResult, PhaseTimeouts, VerifyResult
from tests.integration.workflow.stubs import Stubs, commit_of, start, stubbed_workers

TIMEOUTS = PhaseTimeouts(setup_s=100, build_s=200, test_s=400)


async def test_the_tests_activity_may_run_setup_and_the_tests(temporal_client: Client) -> None:
    queue = f"limits-{uuid.uuid4().hex[:8]}"
    stubs = Stubs(worktree_queue=f"{queue}@worker")
    limits: dict[str, timedelta | None] = {}

    async def analyze(_ref: Any, _attempt: int) -> AnalysisResult:
        return AnalysisResult(phase_timeouts=TIMEOUTS)

    async def verify(inp: Any, _attempt: int) -> VerifyResult:
        limits[inp.phase] = activity.info().start_to_close_timeout
        head = commit_of(max(c.arg.step_index for c in stubs.named("apply_step")))
        return VerifyResult(phase=inp.phase, skipped=False, passed=True, commit_sha=head)

    stubs.on("analyze", analyze)
    stubs.on("verify", verify)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        out = await handle.result()

    assert out.state == "completed"
    margin = 300
    assert limits == {
        "build": timedelta(seconds=100 + 200 + margin),
        "test": timedelta(seconds=100 + 400 + margin),  # setup again, then the tests
    }

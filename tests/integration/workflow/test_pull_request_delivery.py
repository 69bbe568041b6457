"""The pull request step of FeatureExecutionWorkflow, every activity stubbed: called after the
push only when the push says the effective setting asks for one, retried after a forge's
Retry-After under the production policy, and a failure keeps the pushed branch."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from temporalio.client import Client

from activities.forges import ForgeAuthFailed, ForgeRateLimited
from activities.runtime import application_error
from domain.contracts import PullRequestResult, PushRequest, PushResult
from domain.values import DeliveryResult
from tests.integration.workflow.stubs import Stubs, start, stubbed_workers
from tests.integration.workflow.test_workflow_alone import ending, record


@pytest.fixture
def queue() -> str:
    return f"pr-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def stubs(queue: str) -> Stubs:
    return Stubs(worktree_queue=f"{queue}@worker")


def pushed(inp: PushRequest, *, wanted: bool) -> PushResult:
    result = DeliveryResult(
        branch_name="builder/a-change",
        commit_sha=inp.verified_commit or "c" * 40,
        commit_count=2,
        files_changed=1,
        lines_added=3,
        lines_removed=1,
    )
    return PushResult(result=result, pull_request_wanted=wanted)


def push_wanting_a_pr(wanted: bool) -> Any:
    async def push(inp: PushRequest, attempt: int) -> PushResult:
        return pushed(inp, wanted=wanted)

    return push


async def test_no_pull_request_is_delivered_when_the_setting_asks_for_none(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    stubs.on("push", push_wanting_a_pr(False))
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, _, _ = await ending(await start(temporal_client, queue))
    assert state == "completed"
    assert stubs.named("push") and stubs.named("deliver_pull_request") == []


async def test_the_pull_request_is_delivered_after_the_push_and_recorded_in_the_result(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    stubs.on("push", push_wanting_a_pr(True))
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        handle = await start(temporal_client, queue)
        out = await handle.result()
        await record(temporal_client, "pull-request", handle)

    assert out.state == "completed" and out.result is not None
    assert out.result.pull_request_number == 1
    assert out.result.pull_request_url == "https://forge.example/pr/1"
    names = [c.name for c in stubs.calls]
    assert names.index("deliver_pull_request") > names.index("push")
    (deliver,) = stubs.named("deliver_pull_request")
    assert deliver.arg.pushed.branch_name == "builder/a-change"
    final = stubs.changes()[-1]
    assert final.state.label == "completed" and final.result.pull_request_number == 1


async def test_a_refused_credential_fails_the_run_once_and_keeps_the_pushed_branch(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    async def refused(inp: Any, attempt: int) -> Any:
        raise application_error(
            ForgeAuthFailed("GitHub refused the credential (HTTP 401): check the token")
        )

    stubs.on("push", push_wanting_a_pr(True))
    stubs.on("deliver_pull_request", refused)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, code, message = await ending(await start(temporal_client, queue))

    assert (state, code) == ("failed", "repository_access")
    assert "builder/a-change was pushed" in message and "HTTP 401" in message
    assert [c.attempt for c in stubs.named("deliver_pull_request")] == [1]
    final = stubs.changes()[-1]
    assert final.state.label == "failed"
    assert final.result.branch_name == "builder/a-change"  # the push is not lost
    assert final.error.details["branch_pushed"] is True


async def test_a_rate_limited_delivery_is_retried_after_the_forges_delay(
    temporal_client: Client, stubs: Stubs, queue: str
) -> None:
    started: list[float] = []

    async def rate_limited(inp: Any, attempt: int) -> Any:
        started.append(time.monotonic())
        if attempt == 1:
            raise application_error(
                ForgeRateLimited("GitHub rate limit (HTTP 429)", retry_after_seconds=3)
            )
        return PullRequestResult(result=inp.pushed, created=True)

    stubs.on("push", push_wanting_a_pr(True))
    stubs.on("deliver_pull_request", rate_limited)
    async with stubbed_workers(temporal_client, stubs, shared_queue=queue):
        state, _, _ = await ending(await start(temporal_client, queue))

    assert state == "completed"
    assert [c.attempt for c in stubs.named("deliver_pull_request")] == [1, 2]
    # the policy's own first interval is 2 s: the wait is the server's 3 s
    assert started[1] - started[0] >= 2.9

"""A follow-up with the llm engine takes the pull request's unresolved review comments as its
request: fetched through the forge and stored before the model sees them, then answered once
each after the push (activities alone, scripted model, branch on a smart-HTTP server)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.pipeline import FeaturePipeline
from domain.contracts import ExecutionRef, LockRequest, PullRequestRequest, PushRequest
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.fixtures.forges.github import FakeGitHub
from tests.fixtures.git_servers import HttpGitServer
from tests.integration.activities.conftest import Run
from tests.integration.activities.test_pull_request_delivery import pushed_run
from tests.integration.codegen.model_server import ScriptedModelServer

PLAN = {
    "summary": "Rename HI as the review asks",
    "steps": [
        {"description": "Rename HI to HELLO", "type": "modify_file",
         "target_files": ["greeting.py"]},
    ],
}  # fmt: skip
EDIT = "greeting.py\n```python\n<<<<<<< SEARCH\nHI = 1\n=======\nHELLO = 1\n>>>>>>> REPLACE\n```\n"


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.stop()


async def test_a_follow_up_addresses_the_review_threads_and_answers_each_once(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    http_git_server: HttpGitServer,
    sessions: Any,
    model_server: ScriptedModelServer,
) -> None:
    pipeline = pipeline_factory(
        llm_provider="openai", llm_model="scripted-1",
        llm_base_url=model_server.openai_base_url, llm_api_key="sk-scripted-0000",
    )  # fmt: skip
    try:
        with FakeGitHub(http_git_server.token, project="acme/app") as fake:
            first = await pushed_run(
                harness, pipeline, http_git_server, sessions, fake, "github", "acme/app"
            )
            await first.deliver()
            await first.run(
                "release_lock",
                LockRequest(ref=first.run.ref, owner_id="owner", fencing_token=first.fencing_token),
            )
            [pr] = fake.open_pulls()
            thread = fake.add_review_thread(pr, "greeting.py", 1, "Please call it HELLO, not HI")
            branch = first.pushed.branch_name
            tenant = uuid.UUID(first.run.ref.tenant_id)
            async with UnitOfWork(sessions) as uow:
                earlier = await uow.executions.get(tenant, uuid.UUID(first.run.ref.execution_id))
            row = await harness.execution(
                tenant, earlier.repository_id, [], title="Address the review",
                feature_branch=branch, engine="llm",
            )  # fmt: skip
            async with UnitOfWork(sessions) as uow:
                stored = await uow.executions.get(tenant, row.id)
                stored.continues_execution_id = earlier.id
                stored.continues_branch = branch
                stored.properties = {"address_review": True}
                await uow.commit()
            run = Run(pipeline, ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant)),
                      ActivityEnvironment())  # fmt: skip
            model_server.say(json.dumps(PLAN), EDIT)
            await run.prepare()
            planned_prompt = json.dumps(model_server.requests[0]["body"])
            assert "Please call it HELLO, not HI" in planned_prompt
            await run("generate_step", run.step(0))
            step_prompt = json.dumps(model_server.requests[1]["body"])
            assert "Please call it HELLO, not HI" in step_prompt  # every step reads them
            applied = await run("apply_step", run.step(0))
            lock = await run("acquire_lock", LockRequest(ref=run.ref, owner_id="o2"))
            push = await run(
                "push",
                PushRequest(
                    ref=run.ref, owner_id="o2", fencing_token=lock.fencing_token,
                    verified_commit=applied.commit_sha,
                ),
            )  # fmt: skip
            request = PullRequestRequest(ref=run.ref, pushed=push.result)
            out = await run("deliver_pull_request", request)
            again = await run("deliver_pull_request", request)  # a retry answers nothing twice

            assert out.result.pull_request_number == again.result.pull_request_number == pr.number
            replies = [c for c in pr.review if c.parent == thread.id]
            assert len(replies) == 1 and push.result.commit_sha[:12] in replies[0].body
            assert thread.resolved
            assert len(pr.comments) == 1  # one "what changed" comment
            assert len(model_server.requests) == 2  # the retry asked the model nothing
    finally:
        await pipeline.close()

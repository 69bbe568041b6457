"""deliver_pull_request as an activity alone: the branch pushed to a real git server over
smart HTTP, the pull request on a local server speaking the forge's REST API, the
credential loaded from the vault inside the activity.

Covers what the workflow relies on: the PR opened with the execution's title, body, labels
and draft flag and recorded on the execution; a retried activity (the attempt that opened
it died before recording it) leaves exactly one PR and one `pull_request.opened` event; a
refused credential is a clear non-retryable repository_access failure; a 429 is retryable
with the server's delay.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.pipeline import FeaturePipeline
from domain.contracts import ExecutionRef, LockRequest, PullRequestRequest, PushRequest
from domain.enums import CredentialType
from domain.values import CredentialData, DeliveryResult
from persistence.credentials import CredentialRepository
from persistence.uow import UnitOfWork
from persistence.vault import Keyring
from tests.fixtures.executions import Harness
from tests.fixtures.forges.azure_devops import FakeAzureDevOps
from tests.fixtures.forges.base import FakeForge, FakePR
from tests.fixtures.forges.bitbucket_cloud import FakeBitbucketCloud
from tests.fixtures.forges.bitbucket_datacenter import FakeBitbucketDataCenter
from tests.fixtures.forges.gitea import FakeGitea
from tests.fixtures.forges.github import FakeGitHub
from tests.fixtures.forges.gitlab import FakeGitLab
from tests.fixtures.git_servers import HttpGitServer
from tests.integration.activities.conftest import VAULT_KEY, Run
from tests.integration.workflow.test_follow_up_end_to_end import person_pushes

PUBLIC_URL = "https://builder.example.com"
TITLE = "Add a greeting module"
FORGES: dict[str, tuple[type[FakeForge], str]] = {
    "github": (FakeGitHub, "acme/app"),
    "gitlab": (FakeGitLab, "acme/platform/app"),
}


@dataclass
class Delivered:
    run: Run
    pushed: DeliveryResult
    fake: FakeForge
    pull_request_wanted: bool
    fencing_token: int | None = None

    async def deliver(self) -> Any:
        return await self.run(
            "deliver_pull_request", PullRequestRequest(ref=self.run.ref, pushed=self.pushed)
        )


@pytest.fixture
async def pipeline_with_link(
    pipeline_factory: Callable[..., FeaturePipeline],
) -> AsyncIterator[FeaturePipeline]:
    made = pipeline_factory(public_url=PUBLIC_URL)
    yield made
    await made.close()


@pytest.fixture(params=sorted(FORGES))
def forge_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def pushed_run(
    harness: Harness,
    pipeline: FeaturePipeline,
    server: HttpGitServer,
    sessions: Any,
    fake: FakeForge,
    forge: str,
    project: str,
    pull_request: Any = None,
    *,
    basic: bool = False,
) -> Delivered:
    """A repository on the smart-HTTP server whose forge API is `fake`; one step applied,
    the branch pushed under the lock, as the workflow does before delivery."""
    tenant = uuid.uuid4()
    name = server.add_repo(files=3)
    properties = {
        "forge": forge,
        "forge_api_url": fake.api_url,
        "forge_project": project,
        "pull_request": pull_request
        if pull_request is not None
        else {"mode": "draft", "labels": ["builder"]},
    }
    repo = await harness.repository(tenant, server.url(name, "token"), properties)
    kind, data = (
        (CredentialType.BASIC, CredentialData(username="builder-bot", password=server.token))
        if basic
        else (CredentialType.TOKEN, CredentialData(token=server.token))
    )
    async with UnitOfWork(sessions) as uow:
        await CredentialRepository(uow.session, Keyring.parse(VAULT_KEY)).set_credential(
            tenant, repo, kind, data
        )
        await uow.commit()
    row = await harness.execution(
        tenant, repo, [{"op": "write_file", "path": "greeting.py", "content": "HI = 1\n"}],
        title=TITLE,
    )  # fmt: skip
    run = Run(pipeline, ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant)),
              ActivityEnvironment())  # fmt: skip
    await run.prepare()
    applied = await run("apply_step", run.step(0))
    lock = await run("acquire_lock", LockRequest(ref=run.ref, owner_id="owner"))
    push = await run(
        "push",
        PushRequest(
            ref=run.ref, owner_id="owner", fencing_token=lock.fencing_token,
            verified_commit=applied.commit_sha,
        ),
    )  # fmt: skip
    return Delivered(run, push.result, fake, push.pull_request_wanted, lock.fencing_token)


def is_draft(pr: FakePR) -> bool:
    return pr.draft or pr.title.lower().startswith("draft:")


async def events_of(sessions: Any, run: Run, kind: str) -> list[Any]:
    async with UnitOfWork(sessions) as uow:
        events = await uow.events.read_after(uuid.UUID(run.ref.execution_id), 0, 1000)
    return [e for e in events if e.event_type == kind]


async def test_the_pushed_branch_becomes_a_draft_pull_request_recorded_on_the_execution(
    harness: Harness,
    pipeline_with_link: FeaturePipeline,
    http_git_server: HttpGitServer,
    sessions: Any,
    forge_name: str,
) -> None:
    cls, project = FORGES[forge_name]
    with cls(http_git_server.token, project=project) as fake:
        done = await pushed_run(
            harness, pipeline_with_link, http_git_server, sessions, fake, forge_name, project
        )
        assert done.pull_request_wanted
        out = await done.deliver()

        [pr] = fake.open_pulls()
        assert (pr.head, pr.base) == (done.pushed.branch_name, "main")
        assert pr.title.removeprefix("Draft: ") == TITLE and is_draft(pr)
        assert pr.labels == ["builder"]
        execution_id = done.run.ref.execution_id
        assert f"builder:execution={execution_id}" in pr.body
        assert "greeting.py" in pr.body and "+1" in pr.body
        assert f"{PUBLIC_URL}/v1/executions/{execution_id}" in pr.body
        assert out.created and out.result.pull_request_number == pr.number
        assert out.result.pull_request_url and out.result.branch_name == pr.head
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(uuid.UUID(done.run.ref.tenant_id), uuid.UUID(execution_id))
    assert row.result["pull_request_number"] == pr.number
    assert row.result["commit_sha"] == done.pushed.commit_sha
    [opened] = await events_of(sessions, done.run, "pull_request.opened")
    assert opened.payload["number"] == pr.number and opened.payload["draft"] is True


async def test_an_attempt_that_died_after_opening_the_pr_is_retried_into_exactly_one(
    harness: Harness,
    pipeline_with_link: FeaturePipeline,
    http_git_server: HttpGitServer,
    sessions: Any,
    forge_name: str,
) -> None:
    cls, project = FORGES[forge_name]
    with cls(http_git_server.token, project=project) as fake:
        done = await pushed_run(
            harness, pipeline_with_link, http_git_server, sessions, fake, forge_name, project
        )
        # the forge fails every call after the create: the attempt opened the pull
        # request and died before it could record it
        fake.fail_next(503, {"message": "unavailable"}, method="POST", path_contains="label")
        fake.fail_next(503, {"message": "unavailable"}, method="PUT", path_contains="merge")
        with pytest.raises(ApplicationError) as first:
            await done.deliver()
        assert not first.value.non_retryable
        assert len(fake.open_pulls()) == 1
        async with UnitOfWork(sessions) as uow:
            row = await uow.executions.get(
                uuid.UUID(done.run.ref.tenant_id), uuid.UUID(done.run.ref.execution_id)
            )
        assert row.result.get("pull_request_number") is None  # nothing recorded yet

        again = await done.deliver()
        third = await done.deliver()

        [pr] = fake.open_pulls()
        assert again.result.pull_request_number == third.result.pull_request_number == pr.number
        assert not again.created and not third.created
        assert pr.labels == ["builder"]
    assert len(await events_of(sessions, done.run, "pull_request.opened")) == 1


async def test_a_refused_forge_credential_is_a_clear_non_retryable_failure(
    harness: Harness,
    pipeline: FeaturePipeline,
    http_git_server: HttpGitServer,
    sessions: Any,
) -> None:
    # the git server takes the token; the forge does not
    with FakeGitHub("another-token-the-vault-lacks", project="acme/app") as fake:
        done = await pushed_run(
            harness, pipeline, http_git_server, sessions, fake, "github", "acme/app"
        )
        with pytest.raises(ApplicationError) as failed:
            await done.deliver()
        assert fake.open_pulls() == []
    err = failed.value
    assert err.non_retryable and err.type == "repository_access"
    assert "GitHub" in err.message and "401" in err.message
    assert http_git_server.token not in err.message


async def test_a_rate_limited_forge_is_retryable_after_its_delay(
    harness: Harness,
    pipeline: FeaturePipeline,
    http_git_server: HttpGitServer,
    sessions: Any,
) -> None:
    with FakeGitLab(http_git_server.token, project="acme/app") as fake:
        done = await pushed_run(
            harness, pipeline, http_git_server, sessions, fake, "gitlab", "acme/app"
        )
        fake.rate_limit_next(retry_after=7)
        with pytest.raises(ApplicationError) as limited:
            await done.deliver()
        assert not limited.value.non_retryable
        assert limited.value.next_retry_delay == timedelta(seconds=7)
        # the next attempt goes through
        out = await done.deliver()
        assert out.created and len(fake.open_pulls()) == 1


async def test_the_push_asks_for_no_pull_request_when_the_setting_is_none(
    harness: Harness,
    pipeline: FeaturePipeline,
    http_git_server: HttpGitServer,
    sessions: Any,
) -> None:
    with FakeGitHub(http_git_server.token, project="acme/app") as fake:
        done = await pushed_run(
            harness, pipeline, http_git_server, sessions, fake, "github", "acme/app", "none"
        )
    assert not done.pull_request_wanted


async def test_a_follow_up_that_would_need_a_force_push_is_refused_and_comments_nothing(
    harness: Harness,
    pipeline: FeaturePipeline,
    http_git_server: HttpGitServer,
    sessions: Any,
    tmp_path: Path,
) -> None:
    with FakeGitHub(http_git_server.token, project="acme/app") as fake:
        first = await pushed_run(
            harness, pipeline, http_git_server, sessions, fake, "github", "acme/app"
        )
        await first.deliver()
        branch = first.pushed.branch_name
        tenant = uuid.UUID(first.run.ref.tenant_id)
        async with UnitOfWork(sessions) as uow:
            earlier = await uow.executions.get(tenant, uuid.UUID(first.run.ref.execution_id))
            repository_id = earlier.repository_id
        row = await harness.execution(
            tenant, repository_id,
            [{"op": "write_file", "path": "more.py", "content": "MORE = 1\n"}],
            title="More", feature_branch=branch,
        )  # fmt: skip
        async with UnitOfWork(sessions) as uow:
            stored = await uow.executions.get(tenant, row.id)
            stored.continues_execution_id = earlier.id
            stored.continues_branch = branch
            await uow.commit()
        run = Run(pipeline, ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant)),
                  ActivityEnvironment())  # fmt: skip
        await run.prepare()
        applied = await run("apply_step", run.step(0))
        # someone pushes to the branch after the follow-up started from its head
        repo_name = (await _repository_url(sessions, tenant, repository_id)).rsplit("/", 1)[-1]
        theirs = person_pushes(http_git_server, repo_name, branch, tmp_path)
        # the per-branch lock holds across follow-ups: not while the first holds it
        held = await run("acquire_lock", LockRequest(ref=run.ref, owner_id="o2"))
        assert not held.acquired
        await first.run(
            "release_lock",
            LockRequest(ref=first.run.ref, owner_id="owner", fencing_token=first.fencing_token),
        )
        lock = await run("acquire_lock", LockRequest(ref=run.ref, owner_id="o2"))
        assert lock.acquired
        with pytest.raises(ApplicationError) as refused:
            await run(
                "push",
                PushRequest(
                    ref=run.ref, owner_id="o2", fencing_token=lock.fencing_token,
                    verified_commit=applied.commit_sha,
                ),
            )  # fmt: skip
        assert refused.value.type == "push_failed" and refused.value.non_retryable
        assert "refusing to overwrite" in refused.value.message
        assert "start another follow-up" in refused.value.message
        assert theirs[:12] in refused.value.message
        [pr] = fake.open_pulls()
        assert pr.comments == []
    remote = subprocess.run(
        ["git", "--git-dir", str(http_git_server.root / repo_name), "rev-parse",
         f"refs/heads/{branch}"], check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert remote == theirs  # the person's commit is still there


async def _repository_url(sessions: Any, tenant: uuid.UUID, repository_id: uuid.UUID) -> str:
    async with UnitOfWork(sessions) as uow:
        return str((await uow.repositories.get(tenant, repository_id)).url)


# every provider: (forge property, fake, project, basic-auth credential, labels supported,
# draft prefix in the title)
PROVIDERS: dict[str, tuple[type[FakeForge], str, bool, bool, str | None]] = {
    "github": (FakeGitHub, "acme/app", False, True, None),
    "gitlab": (FakeGitLab, "acme/platform/app", False, True, "Draft: "),
    "gitea": (FakeGitea, "acme/app", False, True, "WIP: "),
    "bitbucket_cloud": (FakeBitbucketCloud, "acme/app", True, False, None),
    "bitbucket_datacenter": (FakeBitbucketDataCenter, "ACME/app", False, False, None),
    "azure_devops": (FakeAzureDevOps, "acme/platform/app", False, True, None),
}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_every_forge_gets_one_draft_pull_request_for_the_pushed_branch(
    harness: Harness,
    pipeline: FeaturePipeline,
    http_git_server: HttpGitServer,
    sessions: Any,
    provider: str,
) -> None:
    cls, project, basic, labels, prefix = PROVIDERS[provider]
    with cls(http_git_server.token, project=project) as fake:
        done = await pushed_run(
            harness, pipeline, http_git_server, sessions, fake, provider, project, basic=basic
        )
        first = await done.deliver()
        again = await done.deliver()  # a retried activity

        [pr] = fake.open_pulls()
        assert (pr.head, pr.base) == (done.pushed.branch_name, "main")
        if prefix:
            assert pr.title == prefix + TITLE
        else:
            assert pr.title == TITLE and pr.draft
        assert pr.labels == (["builder"] if labels else [])
        assert f"builder:execution={done.run.ref.execution_id}" in pr.body
        assert "greeting.py" in pr.body
        assert first.created and not again.created
        assert first.result.pull_request_number == again.result.pull_request_number == pr.number
    assert len(await events_of(sessions, done.run, "pull_request.opened")) == 1

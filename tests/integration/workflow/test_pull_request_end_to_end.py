"""One execution through the real worker ending at a pull request: the branch pushed to a
smart-HTTP git server, the pull request opened on a local GitHub-speaking server, the token
in neither the history nor the events; and a refused forge credential failing the run with
the pushed branch kept in its result."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

from google.protobuf.json_format import MessageToJson
from temporalio.client import WorkflowFailureError

from domain.enums import CredentialType, FeatureState
from domain.values import CredentialData
from persistence.credentials import CredentialRepository
from persistence.uow import UnitOfWork
from persistence.vault import Keyring
from tests.fixtures.forges.github import FakeGitHub
from tests.integration.workflow.conftest import VAULT_KEY
from tests.integration.workflow.test_workflow_alone import record

WRITE = [{"op": "write_file", "path": "notes/a.txt", "content": "hello\n"}]


async def _repository(harness: Any, sessions: Any, server: Any, fake: FakeGitHub) -> Any:
    tenant = uuid.uuid4()
    properties = {
        "forge": "github",
        "forge_api_url": fake.api_url,
        "forge_project": "acme/app",
        "pull_request": {"mode": "ready", "labels": ["automated"]},
    }
    name = server.add_repo(files=3)
    repo = await harness.repository(tenant, server.url(name, "token"), properties)
    async with UnitOfWork(sessions) as uow:
        await CredentialRepository(uow.session, Keyring.parse(VAULT_KEY)).set_credential(
            tenant, repo, CredentialType.TOKEN, CredentialData(token=server.token)
        )
        await uow.commit()
    return tenant, repo, server.root / name


async def test_an_execution_ends_at_a_pull_request_on_the_forge(
    harness: Any, running_worker: Any, http_git_server: Any, sessions: Any, temporal_client: Any
) -> None:
    with FakeGitHub(http_git_server.token, project="acme/app") as fake:
        tenant, repo, _ = await _repository(harness, sessions, http_git_server, fake)
        execution_id, handle = await harness.start(tenant, repo, WRITE, title="Add notes")
        outcome = await handle.result()

        assert outcome.state == "completed", outcome
        [pr] = fake.open_pulls()
        assert pr.title == "Add notes" and not pr.draft and pr.labels == ["automated"]
        assert pr.head == outcome.result.branch_name
        assert outcome.result.pull_request_number == pr.number
        assert f"builder:execution={execution_id}" in pr.body
    history = await handle.fetch_history()
    assert all(http_git_server.token not in MessageToJson(e) for e in history.events)
    await record(temporal_client, "e2e-pull-request", handle)
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
        events = await uow.events.read_after(execution_id, 0, 1000)
    assert row.result["pull_request_url"] == outcome.result.pull_request_url
    kinds = [e.event_type for e in events]
    assert kinds.index("push.completed") < kinds.index("pull_request.opened")
    assert http_git_server.token not in repr([e.payload for e in events])


async def test_a_refused_forge_credential_fails_the_run_and_keeps_the_pushed_branch(
    harness: Any, running_worker: Any, http_git_server: Any, sessions: Any
) -> None:
    with FakeGitHub("a-token-the-vault-does-not-hold", project="acme/app") as fake:
        tenant, repo, bare = await _repository(harness, sessions, http_git_server, fake)
        execution_id, handle = await harness.start(tenant, repo, WRITE, title="Add notes")
        try:
            await handle.result()
            raise AssertionError("the run should have failed")
        except WorkflowFailureError as failed:
            cause: Any = failed.cause
        assert fake.open_pulls() == []
    assert cause.type == "repository_access"
    assert "was pushed" in cause.message and "401" in cause.message
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
    assert row.state == FeatureState.FAILED
    assert row.error["code"] == "repository_access"
    assert row.result["branch_name"] and row.result["pull_request_number"] is None
    # the branch really is on the server, at the recorded commit
    on_server = subprocess.run(
        ["git", "--git-dir", str(bare), "rev-parse", f"refs/heads/{row.result['branch_name']}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert on_server == row.result["commit_sha"]

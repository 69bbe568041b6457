"""A follow-up through the real worker: an execution opens a pull request, a person pushes a
commit to its branch, and a follow-up execution builds on that commit, pushes fast-forward
to the same branch over smart HTTP and comments on the same pull request."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from api.workflow_gateway import start_execution_workflow
from domain.contracts import FeatureExecutionOutput
from persistence.uow import UnitOfWork
from tests.fixtures.forges.github import FakeGitHub
from tests.integration.workflow.test_pull_request_end_to_end import _repository


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def person_pushes(server: Any, name: str, branch: str, tmp: Path) -> str:
    """A commit by a person on `branch`, pushed with the git CLI; returns its SHA."""
    url = server.url(name, "token").replace("http://", f"http://someone:{server.token}@")
    clone = tmp / "person"
    git("clone", "--quiet", "--branch", branch, url, str(clone))
    (clone / "person.txt").write_text("a person's fix\n")
    git("add", "person.txt", cwd=clone)
    git("-c", "user.name=Person", "-c", "user.email=p@example.com",
        "commit", "--quiet", "-m", "A person's fix", cwd=clone)  # fmt: skip
    git("push", "--quiet", "origin", branch, cwd=clone)
    return git("rev-parse", "HEAD", cwd=clone)


async def test_a_follow_up_builds_on_a_persons_commit_and_comments_on_the_same_pr(
    harness: Any, running_worker: Any, http_git_server: Any, sessions: Any, tmp_path: Path
) -> None:
    with FakeGitHub(http_git_server.token, project="acme/app") as fake:
        tenant, repo, bare = await _repository(harness, sessions, http_git_server, fake)
        first_id, first = await harness.start(
            tenant, repo, [{"op": "write_file", "path": "notes/a.txt", "content": "a\n"}],
            title="Add notes",
        )  # fmt: skip
        done = await first.result()
        assert done.state == "completed" and done.result.pull_request_number == 1
        branch = done.result.branch_name
        theirs = person_pushes(http_git_server, bare.name, branch, tmp_path)

        row = await harness.execution(
            tenant, repo, [{"op": "write_file", "path": "notes/b.txt", "content": "b\n"}],
            title="Add more notes", feature_branch=branch,
        )  # fmt: skip
        async with UnitOfWork(sessions) as uow:
            stored = await uow.executions.get(tenant, row.id)
            stored.continues_execution_id = first_id
            stored.continues_branch = branch
            await uow.commit()
        handle = await start_execution_workflow(
            harness.client, stored, task_queue=harness.task_queue, wait_for_lock=False
        )
        follow: FeatureExecutionOutput = await handle.result()

        assert follow.state == "completed", follow
        [pr] = fake.open_pulls()  # the same pull request, no second one
        assert follow.result.pull_request_number == pr.number == 1
        [comment] = pr.comments
        assert f"builder:follow-up={row.id}" in comment.body
        assert "notes/b.txt" in comment.body
        assert f"builder:execution={first_id}" in pr.body  # the first execution's body stays
    head = git("--git-dir", str(bare), "rev-parse", f"refs/heads/{branch}")
    assert head == follow.result.commit_sha
    # the follow-up's commit sits directly on the person's: a fast-forward, nothing lost
    assert git("--git-dir", str(bare), "rev-parse", f"{head}^") == theirs
    async with UnitOfWork(sessions) as uow:
        again = await uow.executions.get(tenant, row.id)
        events = await uow.events.read_after(row.id, 0, 1000)
    assert again.base_commit == theirs
    [updated] = [e for e in events if e.event_type == "pull_request.updated"]
    assert updated.payload["follow_up_comment"] is True
    assert uuid.UUID(str(again.continues_execution_id)) == first_id

"""Through the real worker and Temporal: a repository whose tests try to rewrite the branch.

The run must push exactly the commit of its last step, the one that was tested, and its
test log must show that the rewrite was refused.
"""

from __future__ import annotations

import subprocess
import uuid

from builder.deps import artifact_store
from persistence.artifacts import ArtifactService, artifact_id_for
from persistence.uow import UnitOfWork

REWRITE_THE_BRANCH = (
    'ref="$(git symbolic-ref HEAD)"; '
    'git update-ref "$ref" HEAD~1; echo "update-ref=$?"; '
    "git -c user.name=x -c user.email=x@x commit -q --allow-empty -m untested; "
    'echo "commit=$?"; '
    "echo 'import os' > planted.py; echo planted > .git/planted; "
    "echo tests ran"
)
CHANGES = [{"op": "write_file", "path": "feature.txt", "content": "the feature\n"}]


def git(remote, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


async def test_tests_that_rewrite_the_branch_still_push_exactly_the_tested_commit(
    harness,
    running_worker,
    bare_remote,
    sessions,
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": REWRITE_THE_BRANCH})
    execution_id, handle = await harness.start(tenant, repo_id, CHANGES)
    outcome = await handle.result()
    assert outcome.state == "completed", outcome

    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
        steps = await uow.steps.get_by_feature_id(tenant, execution_id)
        stream = await ArtifactService(uow.session, artifact_store(running_worker)).open(
            tenant, artifact_id_for(execution_id, "test.log")
        )
        log = b"".join([c async for c in stream]).decode()

    tested = steps[-1].commit_sha
    pushed = git(remote, "rev-parse", f"refs/heads/{row.feature_branch}")
    assert pushed == tested == row.result["commit_sha"]
    assert git(remote, "rev-list", "--count", f"main..{row.feature_branch}") == "1"
    assert "planted.py" not in git(remote, "ls-tree", "--name-only", "-r", pushed)
    assert "tests ran" in log
    assert "update-ref=0" not in log and "commit=0" not in log
    assert "Read-only file system" in log

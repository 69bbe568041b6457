"""Pushing the feature branch: never over foreign commits, idempotent when repeated."""

from __future__ import annotations

import pytest

from activities.git import GitEngine
from domain.edits import WriteEdit
from domain.errors import PushRejected
from tests.fixtures.git_servers import HttpGitServer, _git, commit_to_bare
from tests.integration.git.support import basic

BRANCH = "builder/push-test-1234abcd"


def _work(engine: GitEngine, url: str, credential=None, key: str = "exec-p") -> str:
    ws = engine.open_workspace(url, credential, key, "main", BRANCH, tenant="tenant-a")
    engine.apply_edits(ws.path, [WriteEdit(path="feature.txt", content="mine\n")])
    return engine.commit(ws.path, "my step", 1_700_000_000).sha


def test_pushing_the_same_commit_twice_is_a_no_op_success(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=5)
    sha = _work(engine, str(remote))
    path = engine.workspace_path("exec-p")
    first = engine.push_branch(path, str(remote), None, BRANCH)
    again = engine.push_branch(path, str(remote), None, BRANCH)
    assert (first.remote_sha, first.already_up_to_date) == (sha, False)
    assert (again.remote_sha, again.already_up_to_date) == (sha, True)


def test_push_fast_forwards_our_own_earlier_push(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=5)
    _work(engine, str(remote))
    path = engine.workspace_path("exec-p")
    engine.push_branch(path, str(remote), None, BRANCH)
    engine.apply_edits(path, [WriteEdit(path="feature.txt", content="mine, step 2\n")])
    second = engine.commit(path, "step 2", 1_700_000_100).sha
    result = engine.push_branch(path, str(remote), None, BRANCH)
    assert result.remote_sha == second
    assert _git("rev-parse", f"refs/heads/{BRANCH}", cwd=remote).strip() == second


def test_push_refuses_to_clobber_foreign_commits(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=5)
    _work(engine, str(remote))
    path = engine.workspace_path("exec-p")
    engine.push_branch(path, str(remote), None, BRANCH)
    foreign = commit_to_bare(remote, BRANCH, "theirs.txt", "theirs\n", "a human's commit")
    engine.apply_edits(path, [WriteEdit(path="feature.txt", content="mine, step 2\n")])
    engine.commit(path, "step 2", 1_700_000_100)
    with pytest.raises(PushRejected) as rejected:
        engine.push_branch(path, str(remote), None, BRANCH)
    assert BRANCH in rejected.value.message
    assert _git("rev-parse", f"refs/heads/{BRANCH}", cwd=remote).strip() == foreign


def test_push_refuses_a_branch_someone_else_created_first(
    engine: GitEngine, http_git_server: HttpGitServer
) -> None:
    name = http_git_server.add_repo(files=3)
    credential = basic(http_git_server.username, http_git_server.password)
    url = http_git_server.url(name, "basic")
    foreign = commit_to_bare(http_git_server.root / name, BRANCH, "x.txt", "x\n", "squatter")
    _work(engine, url, credential)
    with pytest.raises(PushRejected, match="commits builder did not make"):
        engine.push_branch(engine.workspace_path("exec-p"), url, credential, BRANCH)
    assert (
        _git("rev-parse", f"refs/heads/{BRANCH}", cwd=http_git_server.root / name).strip()
        == foreign
    )


def test_push_commit_pushes_the_recorded_sha_even_when_the_local_branch_moved(
    engine: GitEngine, bare_remote
) -> None:
    remote = bare_remote(files=5)
    tested = _work(engine, str(remote))
    path = engine.workspace_path("exec-p")
    base = _git("rev-parse", "main", cwd=remote).strip()
    # what a hostile test did before .git was read-only: move the branch, leave HEAD
    untested = _git("commit-tree", "-p", tested, "-m", "untested", f"{tested}^{{tree}}", cwd=path)
    _git("update-ref", f"refs/heads/{BRANCH}", untested.strip(), cwd=path)
    result = engine.push_commit(path, str(remote), None, BRANCH, tested, base_commit=base)
    assert result.remote_sha == tested
    assert _git("rev-parse", f"refs/heads/{BRANCH}", cwd=remote).strip() == tested


def test_push_commit_refuses_a_commit_that_is_not_the_verified_one(
    engine: GitEngine, bare_remote
) -> None:
    remote = bare_remote(files=5)
    tested = _work(engine, str(remote))
    path = engine.workspace_path("exec-p")
    base = _git("rev-parse", "main", cwd=remote).strip()
    with pytest.raises(PushRejected, match="not the verified tree"):
        engine.push_commit(
            path, str(remote), None, BRANCH, tested, base_commit=base, expected_tree="ab" * 20
        )
    with pytest.raises(PushRejected, match="not in the workspace"):
        engine.push_commit(path, str(remote), None, BRANCH, "cd" * 20, base_commit=base)
    unrelated = _git("commit-tree", "-m", "orphan", f"{tested}^{{tree}}", cwd=path).strip()
    with pytest.raises(PushRejected, match="does not descend from the base"):
        engine.push_commit(path, str(remote), None, BRANCH, unrelated, base_commit=base)
    assert BRANCH not in _git("branch", "--list", cwd=remote)


def test_push_commit_never_clobbers_foreign_commits(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=5)
    tested = _work(engine, str(remote))
    path = engine.workspace_path("exec-p")
    base = _git("rev-parse", "main", cwd=remote).strip()
    foreign = commit_to_bare(remote, BRANCH, "theirs.txt", "theirs\n", "a human's commit")
    with pytest.raises(PushRejected, match="commits builder did not make"):
        engine.push_commit(path, str(remote), None, BRANCH, tested, base_commit=base)
    assert _git("rev-parse", f"refs/heads/{BRANCH}", cwd=remote).strip() == foreign

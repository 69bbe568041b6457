"""Workspaces from the mirror cache: fetch once, reuse warm checkouts, survive concurrency."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygit2
import pytest

from activities.git import GitEngine, OperationCancelled, ReplayDiverged, ReplayStep
from domain.edits import DeleteEdit, WriteEdit
from domain.errors import RepositoryAccessError
from tests.fixtures.git_servers import _git, commit_to_bare
from tests.integration.git.support import engine_for


def test_workspace_is_checked_out_on_the_feature_branch_at_the_target_tip(
    engine: GitEngine, bare_remote
) -> None:
    remote = bare_remote(files=30)
    tip = _git("rev-parse", "main", cwd=remote).strip()
    messages: list[str] = []
    ws = engine.open_workspace(
        str(remote),
        None,
        "exec-a",
        "main",
        "builder/a-1",
        progress=messages.append,
        tenant="tenant-a",
    )
    assert ws.base_commit == tip and ws.head == tip
    assert ws.path == engine.workspace_path("exec-a")
    repo = pygit2.Repository(str(ws.path))
    assert repo.head.name == "refs/heads/builder/a-1"
    assert len(list((ws.path / "src").rglob("*.txt"))) == 30
    assert repo.status() == {}
    assert messages, "long operations report progress"


def test_second_workspace_fetches_new_commits_incrementally(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=10)
    engine.open_workspace(str(remote), None, "exec-a", "main", "builder/a-1", tenant="tenant-a")
    new_tip = commit_to_bare(remote, "main", "NEWS.md", "news\n", "upstream change")
    ws = engine.open_workspace(
        str(remote), None, "exec-b", "main", "builder/b-1", tenant="tenant-a"
    )
    assert ws.base_commit == new_tip
    assert (ws.path / "NEWS.md").read_text() == "news\n"


def test_explicit_base_commit_is_checked_out(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=5)
    old_tip = _git("rev-parse", "main", cwd=remote).strip()
    commit_to_bare(remote, "main", "NEWS.md", "news\n", "upstream change")
    ws = engine.open_workspace(
        str(remote),
        None,
        "exec-a",
        "main",
        "builder/a-1",
        base_commit=old_tip,
        tenant="tenant-a",
    )
    assert ws.base_commit == old_tip
    assert not (ws.path / "NEWS.md").exists()


def test_missing_branch_or_commit_is_a_clear_repository_access_error(
    engine: GitEngine, bare_remote
) -> None:
    remote = bare_remote(files=1)
    with pytest.raises(RepositoryAccessError, match="branch 'develop' does not exist"):
        engine.open_workspace(
            str(remote), None, "exec-a", "develop", "builder/a-1", tenant="tenant-a"
        )
    with pytest.raises(RepositoryAccessError, match="base commit"):
        engine.open_workspace(
            str(remote),
            None,
            "exec-b",
            "main",
            "builder/b-1",
            base_commit="ab" * 20,
            tenant="tenant-a",
        )


def test_warm_workspace_is_reused_and_reset_to_the_new_base(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=40)
    first = engine.open_workspace(
        str(remote), None, "exec-a", "main", "builder/a-1", tenant="tenant-a"
    )
    engine.apply_edits(
        first.path,
        [WriteEdit(path="src/pkg1/file_1.txt", content="edited\n"), DeleteEdit(path="README.md")],
    )
    engine.commit(first.path, "step", 1_700_000_000)
    (first.path / "untracked.tmp").write_text("junk")
    untouched = first.path / "src/pkg2/file_2.txt"
    inode = untouched.stat().st_ino
    engine.release_workspace("exec-a", keep_warm=True)
    assert not first.path.exists()

    second = engine.open_workspace(
        str(remote), None, "exec-b", "main", "builder/b-1", tenant="tenant-a"
    )
    assert (second.path / "src/pkg2/file_2.txt").stat().st_ino == inode  # not rewritten
    assert (second.path / "README.md").exists()
    assert (second.path / "src/pkg1/file_1.txt").read_text().startswith("line 0 of file 1")
    assert not (second.path / "untracked.tmp").exists()
    repo = pygit2.Repository(str(second.path))
    assert repo.status() == {}
    assert str(repo.head.target) == second.base_commit


def test_removed_workspace_is_gone_and_release_without_warmth_deletes(
    engine: GitEngine, bare_remote
) -> None:
    remote = bare_remote(files=3)
    ws = engine.open_workspace(
        str(remote), None, "exec-a", "main", "builder/a-1", tenant="tenant-a"
    )
    engine.remove_workspace("exec-a")
    assert not ws.path.exists()
    ws = engine.open_workspace(
        str(remote), None, "exec-b", "main", "builder/b-1", tenant="tenant-a"
    )
    engine.release_workspace("exec-b", keep_warm=False)
    assert not ws.path.exists()
    assert not list((engine.config.workspace_root / ".warm").glob("*"))


def test_concurrent_workspaces_on_one_repository_do_not_corrupt_the_mirror(
    engine: GitEngine, bare_remote
) -> None:
    remote = bare_remote(files=200)
    upstream = threading.Lock()  # the fixture's own pushes must not race each other

    def open_one(n: int) -> str:
        if n % 2:
            with upstream:
                commit_to_bare(remote, "main", f"f{n}.txt", f"{n}\n", f"c{n}")
        ws = engine.open_workspace(
            str(remote), None, f"exec-{n}", "main", f"builder/c-{n}", tenant="tenant-a"
        )
        assert pygit2.Repository(str(ws.path)).status() == {}
        return ws.base_commit

    with ThreadPoolExecutor(max_workers=6) as pool:
        bases = list(pool.map(open_one, range(12)))
    assert all(len(b) == 40 for b in bases)
    mirror = engine.workspaces.mirrors.path_for(str(remote))
    fsck = _git("fsck", "--full", "--no-dangling", cwd=mirror)
    assert "error" not in fsck.lower()
    final = engine.open_workspace(
        str(remote), None, "exec-final", "main", "builder/final-1", tenant="tenant-a"
    )
    assert final.base_commit == _git("rev-parse", "main", cwd=remote).strip()


def test_rebuilt_workspace_reproduces_every_step_sha(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=10)
    ws = engine.open_workspace(
        str(remote), None, "exec-a", "main", "builder/r-1", tenant="tenant-a"
    )
    steps: list[ReplayStep] = []
    for n, edits in enumerate(
        [
            [WriteEdit(path="src/feature.py", content="A = 1\n")],
            [WriteEdit(path="src/feature.py", content="A = 2\n"), DeleteEdit(path="README.md")],
        ]
    ):
        engine.apply_edits(ws.path, edits)
        result = engine.commit(ws.path, f"step {n}", 1_700_000_000 + n)
        steps.append(
            ReplayStep(
                edits=edits,
                message=f"step {n}",
                timestamp=1_700_000_000 + n,
                expected_sha=result.sha,
            )
        )
    engine.remove_workspace("exec-a")

    other = engine_for(ws.path.parent.parent / "elsewhere")  # another worker, cold caches
    rebuilt = other.rebuild_workspace(
        str(remote),
        None,
        "exec-a",
        "main",
        "builder/r-1",
        ws.base_commit,
        steps,
        tenant="tenant-a",
    )
    assert rebuilt.head == steps[-1].expected_sha
    assert str(pygit2.Repository(str(rebuilt.path)).head.target) == steps[-1].expected_sha

    tampered = [
        steps[0],
        ReplayStep(steps[1].edits, "step 1 (edited)", steps[1].timestamp, steps[1].expected_sha),
    ]
    with pytest.raises(ReplayDiverged, match="expected"):
        other.rebuild_workspace(
            str(remote),
            None,
            "exec-b",
            "main",
            "builder/r-1",
            ws.base_commit,
            tampered,
            tenant="tenant-a",
        )


def test_cancelled_open_stops_with_operation_cancelled(engine: GitEngine, bare_remote) -> None:
    remote = bare_remote(files=5)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(OperationCancelled):
        engine.open_workspace(
            str(remote), None, "exec-a", "main", "builder/a-1", cancel=cancel, tenant="tenant-a"
        )


def test_mirror_cache_evicts_least_recently_used_mirrors(tmp_path: Path, bare_remote) -> None:
    engine = engine_for(tmp_path, mirror_cache_max_bytes=1)
    first, second = bare_remote(files=20), bare_remote(files=20)
    engine.open_workspace(str(first), None, "exec-a", "main", "builder/a-1", tenant="tenant-a")
    engine.open_workspace(str(second), None, "exec-b", "main", "builder/b-1", tenant="tenant-a")
    mirrors = engine.workspaces.mirrors
    assert not mirrors.path_for(str(first)).exists()
    assert mirrors.path_for(str(second)).exists()
    # a workspace made from an evicted mirror still has all its objects (hardlinks)
    repo = pygit2.Repository(str(engine.workspace_path("exec-a")))
    assert repo.revparse_single("HEAD").tree is not None
    assert os.path.isdir(engine.workspace_path("exec-a") / "src")


def _open_in_process(root: str, remote: str, key: str) -> str:
    engine = engine_for(Path(root))
    return engine.open_workspace(
        remote, None, key, "main", f"builder/{key}-1", tenant="tenant-a"
    ).base_commit


def test_concurrent_processes_share_one_mirror_safely(tmp_path: Path, bare_remote) -> None:
    import multiprocessing

    remote = bare_remote(files=100)
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        bases = pool.starmap(
            _open_in_process, [(str(tmp_path), str(remote), f"p{n}") for n in range(3)]
        )
    assert len(set(bases)) == 1
    mirror = engine_for(tmp_path).workspaces.mirrors.path_for(str(remote))
    assert "error" not in _git("fsck", "--full", "--no-dangling", cwd=mirror).lower()
    assert not list(mirror.parent.glob("*.tmp-*")), "no half-built mirror left behind"


def test_a_warm_workspace_is_only_reused_by_the_tenant_that_released_it(
    engine: GitEngine, bare_remote
) -> None:
    remote = str(bare_remote(files=5))
    first = engine.open_workspace(remote, None, "exec-a", "main", "builder/a-1", tenant="t-a")
    marker = first.path / "src" / "pkg0" / "file_0.txt"
    inode = marker.stat().st_ino
    engine.release_workspace("exec-a", keep_warm=True)

    other = engine.open_workspace(remote, None, "exec-b", "main", "builder/b-1", tenant="t-b")
    assert (other.path / "src/pkg0/file_0.txt").stat().st_ino != inode  # a fresh checkout
    assert len(list((engine.config.workspace_root / ".warm").iterdir())) == 1  # A's still waits
    same = engine.open_workspace(remote, None, "exec-c", "main", "builder/c-1", tenant="t-a")
    assert (same.path / "src/pkg0/file_0.txt").stat().st_ino == inode  # A's own, reused


def test_claiming_a_workspace_rewrites_what_a_run_could_have_planted_in_git(
    engine: GitEngine, bare_remote, tmp_path: Path
) -> None:
    remote = str(bare_remote(files=5))
    ws = engine.open_workspace(remote, None, "exec-a", "main", "builder/a-1", tenant="t-a")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("host file\n")
    git = ws.path / ".git"
    with open(git / "config", "a") as config:
        config.write(f"[core]\n\tworktree = {victim}\n\tfsmonitor = /bin/evil\n")
    (git / "hooks").mkdir(exist_ok=True)
    (git / "hooks" / "post-checkout").write_text("#!/bin/sh\ntouch /tmp/pwned\n")
    (git / "info").mkdir(exist_ok=True)
    (git / "info" / "attributes").write_text("* filter=evil\n")
    (git / "objects" / "info").mkdir(exist_ok=True)
    (git / "objects" / "info" / "alternates").write_text(f"{victim}\n")
    (git / "shallow").write_text("0" * 40 + "\n")
    (ws.path / "build").mkdir()
    (ws.path / "build" / "planted.txt").write_text("untracked\n")
    (ws.path / ".gitignore").write_text("ignored.bin\n")
    engine.release_workspace("exec-a", keep_warm=True)

    again = engine.open_workspace(remote, None, "exec-b", "main", "builder/b-1", tenant="t-a")
    git = again.path / ".git"
    config = (git / "config").read_text()
    assert "worktree" not in config and "fsmonitor" not in config
    assert not (git / "hooks").exists() and not (git / "info").exists()
    assert not (git / "objects" / "info").exists() and not (git / "shallow").exists()
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert (victim / "keep.txt").read_text() == "host file\n"
    assert not (again.path / "build").exists()
    assert pygit2.Repository(str(again.path)).status() == {}


def test_ignored_files_a_run_left_do_not_survive_into_the_next_execution(
    engine: GitEngine, bare_remote
) -> None:
    remote = bare_remote(files=3)
    commit_to_bare(remote, "main", ".gitignore", "node_modules/\n*.pth\n", "ignore deps")
    ws = engine.open_workspace(str(remote), None, "exec-a", "main", "builder/a-1", tenant="t")
    (ws.path / "node_modules" / "evil").mkdir(parents=True)
    (ws.path / "node_modules" / "evil" / "index.js").write_text("steal()\n")
    (ws.path / "sitecustomize.pth").write_text("import evil\n")
    engine.release_workspace("exec-a", keep_warm=True)
    again = engine.open_workspace(str(remote), None, "exec-b", "main", "builder/b-1", tenant="t")
    assert not (again.path / "node_modules").exists()
    assert not (again.path / "sitecustomize.pth").exists()


def test_a_workspace_whose_git_dir_was_replaced_is_discarded_not_trusted(
    engine: GitEngine, bare_remote, tmp_path: Path
) -> None:
    remote = str(bare_remote(files=3))
    ws = engine.open_workspace(remote, None, "exec-a", "main", "builder/a-1", tenant="t")
    elsewhere = tmp_path / "elsewhere.git"
    os.rename(ws.path / ".git", elsewhere)
    (ws.path / ".git").symlink_to(elsewhere)
    again = engine.open_workspace(remote, None, "exec-a", "main", "builder/a-1", tenant="t")
    assert not (again.path / ".git").is_symlink() and (again.path / ".git").is_dir()
    assert pygit2.Repository(str(again.path)).status() == {}

"""Warm worktrees across executions (bounded, per tenant) and deletion off the caller's path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygit2

from activities.git import GitEngine
from activities.git.hygiene import CANONICAL_CONFIG
from tests.integration.git.support import engine_for


def _inodes(engine: GitEngine, keys: list[str]) -> set[int]:
    return {(engine.workspace_path(k) / "src/pkg0/file_0.txt").stat().st_ino for k in keys}


def _open(engine: GitEngine, remote: str, key: str, tenant: str) -> Path:
    return engine.open_workspace(remote, None, key, "main", f"builder/{key}", tenant=tenant).path


def _wait_until(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_released_worktrees_are_reused_by_the_same_tenant_up_to_the_bound(
    tmp_path: Path, bare_remote
) -> None:
    engine = engine_for(tmp_path, warm_workspaces_per_repository=3)
    remote = str(bare_remote(files=5))
    first = [f"exec-{i}" for i in range(5)]
    for key in first:
        _open(engine, remote, key, "t-a")
    released = _inodes(engine, first)
    for key in first:
        engine.release_workspace(key, keep_warm=True)
    warm = engine.config.workspace_root / ".warm"
    assert len(list(warm.iterdir())) == 3  # the bound; the other two were discarded
    assert _wait_until(lambda: not any((engine.config.workspace_root / ".trash").iterdir()))

    second = [f"next-{i}" for i in range(5)]
    for key in second:
        path = _open(engine, remote, key, "t-a")
        repo = pygit2.Repository(str(path))
        assert repo.status() == {} and repo.head.shorthand == f"builder/{key}"
    # three of the next five took over a released checkout (same files), two are new
    assert len(_inodes(engine, second) & released) == 3
    assert not list(warm.iterdir())


def test_worktrees_released_by_one_tenant_are_never_given_to_another(
    tmp_path: Path, bare_remote
) -> None:
    engine = engine_for(tmp_path, warm_workspaces_per_repository=8)
    remote = str(bare_remote(files=5))
    keys = [f"a-{i}" for i in range(4)]
    for key in keys:
        _open(engine, remote, key, "t-a")
    released = _inodes(engine, keys)
    for key in keys:
        engine.release_workspace(key, keep_warm=True)

    others = [f"b-{i}" for i in range(4)]
    for key in others:
        _open(engine, remote, key, "t-b")
    assert not _inodes(engine, others) & released  # all fresh checkouts
    assert len(list((engine.config.workspace_root / ".warm").iterdir())) == 4  # A's still wait
    again = [f"a2-{i}" for i in range(4)]
    for key in again:
        _open(engine, remote, key, "t-a")
    assert _inodes(engine, again) == released


def test_a_discarded_worktree_is_moved_aside_at_once_and_deleted_later(
    tmp_path: Path, bare_remote
) -> None:
    engine = engine_for(tmp_path)
    remote = str(bare_remote(files=5))
    path = _open(engine, remote, "exec-a", "t-a")
    locked = path / "build" / "locked"
    locked.mkdir(parents=True)
    (locked / "out.o").write_text("x")
    locked.chmod(0o000)  # a run can leave directories nobody may enter
    trash = engine.config.workspace_root / ".trash"
    reaper = engine.workspaces._reaper
    with reaper._lock:  # the reaper cannot delete anything while this is held
        engine.release_workspace("exec-a", keep_warm=False)
        assert not path.exists()  # returned without deleting: the tree waits in the trash
        assert len(list(trash.iterdir())) == 1
    assert _wait_until(lambda: not any(trash.iterdir()))


def test_empty_trash_deletes_what_a_crash_left_in_the_trash_now(tmp_path: Path) -> None:
    engine = engine_for(tmp_path)
    trash = engine.config.workspace_root / ".trash"
    leftover = trash / "exec-x-1234abcd" / "src"
    leftover.mkdir(parents=True)
    (leftover / "file").write_text("x")
    leftover.chmod(0o000)
    (trash / "stray-file").write_text("x")
    assert engine.empty_trash() == 2
    assert not any(trash.iterdir())
    assert engine.empty_trash() == 0


def test_a_new_worktree_has_only_canonical_git_metadata(tmp_path: Path, bare_remote) -> None:
    engine = engine_for(tmp_path)
    path = _open(engine, str(bare_remote(files=3)), "exec-a", "t-a")
    git = path / ".git"
    assert sorted(os.listdir(git)) == sorted(
        ["HEAD", "builder-repository", "config", "index", "objects", "refs"]
    )
    assert not (git / "objects" / "info").exists()
    assert (git / "config").read_text() == CANONICAL_CONFIG
    assert pygit2.Repository(str(path)).head.shorthand == "builder/exec-a"


def test_an_idle_reaper_exits_and_the_next_discard_starts_another(
    tmp_path: Path, bare_remote, monkeypatch
) -> None:
    monkeypatch.setattr("activities.git.workspaces._REAPER_IDLE_S", 0.05)
    engine = engine_for(tmp_path)
    remote = str(bare_remote(files=3))
    trash = engine.config.workspace_root / ".trash"
    reaper = engine.workspaces._reaper
    for key in ("exec-a", "exec-b"):
        _open(engine, remote, key, "t-a")
        engine.release_workspace(key, keep_warm=False)
        assert _wait_until(lambda: not any(trash.iterdir()))
        assert _wait_until(lambda: reaper._thread is None)  # no thread left behind

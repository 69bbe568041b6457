"""Resetting a worktree a run tampered with never writes through the links it planted.

libgit2's forced checkout writes a tracked file's content through a symlink that replaced
it, and tracked files into the directory a link that replaced their directory points at:
without the scrub, a test could make builder overwrite any file the worker can write.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pygit2

from activities.git.worktree_state import reset_worktree


def _head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).head.target)


def test_reset_does_not_write_through_a_symlink_that_replaced_a_tracked_file(
    worktree: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("host file\n")
    (worktree / "README.md").unlink()
    (worktree / "README.md").symlink_to(victim)
    reset_worktree(worktree, _head(worktree), "work")
    assert victim.read_text() == "host file\n"
    assert not (worktree / "README.md").is_symlink()
    assert (worktree / "README.md").read_text() == "# demo\n"


def test_reset_does_not_write_into_a_directory_a_symlink_points_at(
    worktree: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim-dir"
    victim.mkdir()
    shutil.rmtree(worktree / "src")
    (worktree / "src").symlink_to(victim)
    reset_worktree(worktree, _head(worktree), "work")
    assert list(victim.iterdir()) == []
    assert (worktree / "src").is_dir() and not (worktree / "src").is_symlink()
    assert (worktree / "src" / "app.py").exists()


def test_reset_removes_fifos_and_unlocks_directories_a_run_left(worktree: Path) -> None:
    os.mkfifo(worktree / "pipe")
    locked = worktree / "build" / "locked"
    locked.mkdir(parents=True)
    (locked / "out.o").write_text("x")
    locked.chmod(0)
    reset_worktree(worktree, _head(worktree), "work")
    assert not (worktree / "pipe").exists() and not (worktree / "build").exists()


def test_a_tracked_symlink_is_kept(worktree: Path) -> None:
    (worktree / "alias.md").symlink_to("README.md")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}  # fmt: skip
    subprocess.run(["git", "add", "alias.md"], cwd=worktree, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "link"], cwd=worktree, env=env, check=True)
    reset_worktree(worktree, _head(worktree), "work")
    assert stat.S_ISLNK(os.lstat(worktree / "alias.md").st_mode)

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


def test_what_a_run_planted_deep_in_the_tree_is_found_and_a_tracked_link_there_kept(
    worktree: Path, tmp_path: Path
) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}  # fmt: skip
    (worktree / "src" / "docs").mkdir()
    (worktree / "src" / "docs" / "alias.md").symlink_to("../../README.md")
    subprocess.run(["git", "add", "src/docs/alias.md"], cwd=worktree, env=env, check=True)
    subprocess.run(["git", "commit", "-qm", "nested link"], cwd=worktree, env=env, check=True)
    victim = tmp_path / "victim.py"
    victim.write_text("host file\n")
    (worktree / "src" / "app.py").unlink()
    (worktree / "src" / "app.py").symlink_to(victim)  # a tracked file, one level down
    os.mkfifo(worktree / "src" / "docs" / "pipe")
    locked = worktree / "out" / "a" / "b"
    locked.mkdir(parents=True)
    (locked / "obj.o").write_text("x")
    locked.chmod(0)
    (worktree / "out" / "a").chmod(0)
    in_git = worktree / ".git" / "left-by-a-run"
    os.mkfifo(in_git)  # the metadata is the claim's to sanitize, not the scrub's

    reset_worktree(worktree, _head(worktree), "work")

    assert victim.read_text() == "host file\n"
    assert not (worktree / "src" / "app.py").is_symlink()
    assert (worktree / "src" / "app.py").read_text() == "def main():\n    return 1\n"
    assert stat.S_ISLNK(os.lstat(worktree / "src" / "docs" / "alias.md").st_mode)
    assert not (worktree / "src" / "docs" / "pipe").exists()
    assert not (worktree / "out").exists()
    assert stat.S_ISFIFO(os.lstat(in_git).st_mode)

"""A small real repository on disk for engine unit tests (no servers needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    """A non-bare repository on branch `work` with a few committed files."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("def main():\n    return 1\n")
    (repo / "src" / "util.py").write_text("X = 1\nY = 2\nZ = 3\n")
    (repo / "README.md").write_text("# demo\n")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
    }
    for args in (["init", "-q", "-b", "work"], ["add", "."], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return repo

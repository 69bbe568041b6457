"""Deterministic commits and their per-file statistics."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from activities.git import Author, apply_edits, commit
from domain.edits import DeleteEdit, RenameEdit, WriteEdit
from domain.enums import ChangeType
from domain.errors import GenerationFailed

AUTHOR = Author("Builder Bot", "bot@builder.test")


def test_commit_uses_configured_author_and_caller_timestamp(worktree: Path) -> None:
    apply_edits(worktree, [WriteEdit(path="new.txt", content="a\nb\n")])
    result = commit(worktree, "Add new.txt", 1_700_000_000, AUTHOR)
    made = pygit2.Repository(str(worktree))[result.sha]
    assert (made.author.name, made.author.email, made.author.time, made.author.offset) == (
        "Builder Bot",
        "bot@builder.test",
        1_700_000_000,
        0,
    )
    assert made.committer.time == 1_700_000_000
    assert made.message == "Add new.txt\n"
    log = subprocess.run(
        ["git", "log", "-1", "--format=%H"], cwd=worktree, capture_output=True, text=True
    )
    assert log.stdout.strip() == result.sha  # HEAD's branch moved


def test_same_change_on_same_parent_gives_the_same_sha(tmp_path: Path, worktree: Path) -> None:
    twin = tmp_path / "twin"
    subprocess.run(["git", "clone", "-q", str(worktree), str(twin)], check=True)
    subprocess.run(["git", "checkout", "-q", "work"], cwd=twin, check=True)
    shas = []
    for repo in (worktree, twin):
        apply_edits(repo, [WriteEdit(path="src/app.py", content="def main():\n    return 3\n")])
        shas.append(commit(repo, "Change main", 1_700_000_500, AUTHOR).sha)
    assert shas[0] == shas[1]


def test_per_file_stats_cover_every_change_type(worktree: Path) -> None:
    repo = pygit2.Repository(str(worktree))
    old_util = str(repo.revparse_single("HEAD:src/util.py").id)
    apply_edits(
        worktree,
        [
            WriteEdit(path="docs/guide.md", content="one\ntwo\n"),
            WriteEdit(path="src/util.py", content="X = 1\nY = 20\nZ = 3\nW = 4\n"),
            DeleteEdit(path="README.md"),
            RenameEdit(path="src/app.py", new_path="src/main.py"),
        ],
    )
    result = commit(worktree, "Mixed", 1_700_000_000, AUTHOR)
    by_path = {f.file_path: f for f in result.files}
    assert by_path["docs/guide.md"].change_type == ChangeType.CREATED
    assert by_path["docs/guide.md"].previous_hash is None
    assert by_path["docs/guide.md"].lines_added == 2
    util = by_path["src/util.py"]
    assert (util.change_type, util.lines_added, util.lines_removed) == (ChangeType.MODIFIED, 2, 1)
    assert util.previous_hash == old_util
    assert util.new_hash == str(repo.revparse_single(f"{result.sha}:src/util.py").id)
    assert "-Y = 2\n" in util.patch and "+Y = 20\n" in util.patch
    assert by_path["README.md"].change_type == ChangeType.DELETED
    assert by_path["README.md"].new_hash is None
    renamed = by_path["src/main.py"]
    assert (renamed.change_type, renamed.previous_path) == (ChangeType.RENAMED, "src/app.py")
    assert (result.lines_added, result.lines_removed) == (
        sum(f.lines_added for f in result.files),
        sum(f.lines_removed for f in result.files),
    )
    assert result.lines_removed >= 2  # README line and the changed util line


def test_a_step_without_changes_is_refused_unless_empty_commits_are_allowed(worktree: Path) -> None:
    head = str(pygit2.Repository(str(worktree)).head.target)
    with pytest.raises(GenerationFailed, match="no changes"):
        commit(worktree, "Nothing", 1_700_000_000, AUTHOR)
    result = commit(worktree, "Nothing", 1_700_000_000, AUTHOR, allow_empty=True)
    assert result.parent == head and result.files == []


def test_commit_of_declared_paths_leaves_everything_else_out(worktree: Path) -> None:
    touched = apply_edits(worktree, [WriteEdit(path="src/app.py", content="def main(): ...\n")])
    (worktree / "planted.py").write_text("import os  # left by a build\n")
    (worktree / "README.md").write_text("rewritten by a test\n")
    result = commit(worktree, "Edit app", 1_700_000_000, AUTHOR, paths=touched)
    tree = pygit2.Repository(str(worktree))[result.sha].peel(pygit2.Tree)
    assert [f.file_path for f in result.files] == ["src/app.py"]
    assert "planted.py" not in tree
    assert tree["README.md"].data == b"# demo\n"

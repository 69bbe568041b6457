"""Path policy of applied edits: every attack refused, nothing half-applied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from activities.git import apply_edits
from domain.edits import DeleteEdit, RenameEdit, WriteEdit
from domain.errors import GenerationFailed, PolicyViolation


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/etc/passwd", "absolute"),
        ("../outside.txt", "'..'"),
        ("src/../../outside.txt", "'..'"),
        (".git/hooks/pre-commit", ".git"),
        ("sub/.GIT/config", ".git"),
        ("src//app.py", "not normalised"),
        ("", "empty"),
    ],
)
def test_unsafe_paths_are_refused_with_the_rule(worktree: Path, path: str, rule: str) -> None:
    with pytest.raises(PolicyViolation) as refused:
        apply_edits(worktree, [WriteEdit(path=path, content="x")])
    assert rule in refused.value.message
    assert refused.value.retryable is False


def test_symlinked_directory_planted_in_the_repository_cannot_be_written_through(
    worktree: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (worktree / "docs").symlink_to(outside)
    with pytest.raises(PolicyViolation, match="symlink that leaves the worktree"):
        apply_edits(worktree, [WriteEdit(path="docs/evil.txt", content="x")])
    assert list(outside.iterdir()) == []


def test_symlinked_file_pointing_outside_is_refused(worktree: Path, tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("keep me")
    (worktree / "config.txt").symlink_to(target)
    for edit in (WriteEdit(path="config.txt", content="x"), DeleteEdit(path="config.txt")):
        with pytest.raises(PolicyViolation, match="symlink"):
            apply_edits(worktree, [edit])
    assert target.read_text() == "keep me"


def test_symlink_into_the_git_directory_is_refused(worktree: Path) -> None:
    (worktree / "hooks").symlink_to(worktree / ".git" / "hooks")
    with pytest.raises(PolicyViolation, match=r"\.git"):
        apply_edits(worktree, [WriteEdit(path="hooks/post-checkout", content="#!/bin/sh\n")])


def test_allowed_and_forbidden_globs_are_enforced(worktree: Path) -> None:
    with pytest.raises(PolicyViolation, match="forbidden pattern"):
        apply_edits(
            worktree, [WriteEdit(path="src/secrets.env", content="x")], ["src/"], ["**/*.env"]
        )
    with pytest.raises(PolicyViolation, match="outside the allowed paths"):
        apply_edits(worktree, [WriteEdit(path="README.md", content="x")], ["src/"], [])
    with pytest.raises(PolicyViolation, match="outside the allowed paths"):
        apply_edits(worktree, [RenameEdit(path="src/app.py", new_path="app.py")], ["src/"], [])


def test_one_bad_edit_means_no_edit_is_written(worktree: Path) -> None:
    edits = [
        WriteEdit(path="src/new.py", content="new\n"),
        WriteEdit(path="README.md", content="changed\n"),
        WriteEdit(path="../escape.txt", content="x"),
    ]
    with pytest.raises(PolicyViolation):
        apply_edits(worktree, edits)
    assert not (worktree / "src" / "new.py").exists()
    assert (worktree / "README.md").read_text() == "# demo\n"


def test_impossible_edits_fail_before_anything_is_written(worktree: Path) -> None:
    edits = [WriteEdit(path="a.txt", content="a"), DeleteEdit(path="missing.txt")]
    with pytest.raises(GenerationFailed, match=r"missing\.txt"):
        apply_edits(worktree, edits)
    assert not (worktree / "a.txt").exists()


def test_create_modify_delete_and_rename_are_applied_in_order(worktree: Path) -> None:
    touched = apply_edits(
        worktree,
        [
            WriteEdit(path="pkg/deep/new.py", content="print('hi')\n", executable=True),
            WriteEdit(path="README.md", content="# changed\n"),
            DeleteEdit(path="src/util.py"),
            RenameEdit(
                path="src/app.py", new_path="lib/app.py", content="def main():\n    return 2\n"
            ),
        ],
    )
    assert touched == ["pkg/deep/new.py", "README.md", "src/util.py", "src/app.py", "lib/app.py"]
    assert (worktree / "pkg/deep/new.py").read_text() == "print('hi')\n"
    assert os.access(worktree / "pkg/deep/new.py", os.X_OK)
    assert (worktree / "README.md").read_text() == "# changed\n"
    assert not (worktree / "src").exists()  # emptied directories are removed
    assert (worktree / "lib/app.py").read_text().endswith("return 2\n")


def test_a_symlink_inside_the_worktree_is_replaced_not_followed(worktree: Path) -> None:
    (worktree / "alias.md").symlink_to("README.md")
    apply_edits(worktree, [WriteEdit(path="alias.md", content="own content\n")])
    assert not (worktree / "alias.md").is_symlink()
    assert (worktree / "README.md").read_text() == "# demo\n"


def test_a_file_written_then_written_through_is_a_policy_violation_naming_the_path(
    worktree: Path,
) -> None:
    # what an apply_diff adding a symlink (as a file: edits never make links) and then
    # writing below it produces
    edits = [WriteEdit(path="link", content="/etc"), WriteEdit(path="link/passwd", content="x")]
    with pytest.raises(PolicyViolation) as refused:
        apply_edits(worktree, edits)
    assert "'link/passwd'" in refused.value.message and "'link'" in refused.value.message
    assert "Errno" not in refused.value.message
    assert not (worktree / "link").exists()


def test_a_write_below_an_existing_regular_file_is_a_policy_violation(worktree: Path) -> None:
    with pytest.raises(PolicyViolation, match=r"'README\.md/x\.txt' is below 'README\.md'"):
        apply_edits(worktree, [WriteEdit(path="README.md/x.txt", content="x")])


def test_a_directory_written_over_files_created_in_the_same_step_is_refused(
    worktree: Path,
) -> None:
    edits = [WriteEdit(path="pkg/a.py", content="a"), WriteEdit(path="pkg", content="b")]
    with pytest.raises(PolicyViolation, match="'pkg'"):
        apply_edits(worktree, edits)
    assert not (worktree / "pkg").exists()


def test_a_symlink_inside_the_worktree_is_never_written_through(worktree: Path) -> None:
    (worktree / "lib").symlink_to("src")
    with pytest.raises(PolicyViolation, match="goes through the symlink 'lib'"):
        apply_edits(worktree, [WriteEdit(path="lib/new.py", content="x")])
    assert not (worktree / "src" / "new.py").exists()


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_fifo_or_socket_a_build_left_is_refused_by_name(worktree: Path, kind: str) -> None:
    import socket

    target = worktree / "out.pipe"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        server.close()
    shown = {"fifo": "a FIFO", "socket": "a socket"}[kind]
    for edit in (WriteEdit(path="out.pipe", content="x"), DeleteEdit(path="out.pipe")):
        with pytest.raises(PolicyViolation, match=f"'out.pipe' is {shown} in the worktree"):
            apply_edits(worktree, [edit])

"""Deterministic commits of a workspace's changes, with per-file statistics.

Author and committer come from the configuration and the timestamp from the caller (the
workflow), so the same tree on the same parent with the same message always has the same
SHA: a retried or rebuilt step reproduces its commit exactly.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, FileStatus

from domain.enums import ChangeType
from domain.errors import GenerationFailed
from domain.values import FileChangeStat

_CHANGE_TYPES = {
    DeltaStatus.ADDED: ChangeType.CREATED,
    DeltaStatus.DELETED: ChangeType.DELETED,
    DeltaStatus.RENAMED: ChangeType.RENAMED,
    DeltaStatus.MODIFIED: ChangeType.MODIFIED,
    DeltaStatus.TYPECHANGE: ChangeType.MODIFIED,
    DeltaStatus.COPIED: ChangeType.CREATED,
}
_ZERO = "0" * 40


@dataclass(frozen=True)
class Author:
    """Who builder commits as."""

    name: str
    email: str


@dataclass(frozen=True)
class CommitResult:
    """A commit and what it changed."""

    sha: str
    parent: str | None
    files: list[FileChangeStat]
    lines_added: int
    lines_removed: int


def stage_all(repo: pygit2.Repository) -> pygit2.Index:
    """Stage every change in the worktree (additions, modifications, deletions)."""
    index = repo.index
    for path, flags in repo.status().items():
        if flags & FileStatus.WT_DELETED:
            index.remove(path)
        elif flags & (
            FileStatus.WT_NEW
            | FileStatus.WT_MODIFIED
            | FileStatus.WT_TYPECHANGE
            | FileStatus.WT_RENAMED
        ):
            index.add(path)
    index.write()
    return index


def stage_paths(repo: pygit2.Repository, paths: Sequence[str]) -> pygit2.Index:
    """Stage exactly `paths` (added or removed as the worktree has them), nothing else."""
    index = repo.index
    root = Path(repo.workdir)
    for path in dict.fromkeys(paths):
        if os.path.lexists(root / path):
            index.add(path)
        elif path in index:
            index.remove(path)
    index.write()
    return index


def commit(
    ws_path: Path | str,
    message: str,
    timestamp: int,
    author: Author,
    *,
    allow_empty: bool = False,
    paths: Sequence[str] | None = None,
) -> CommitResult:
    """Commit onto HEAD's branch: exactly `paths` when given (the step's declared edits, so
    nothing a build or test left in the worktree can enter the commit), else every change."""
    repo = pygit2.Repository(str(ws_path))
    index = stage_all(repo) if paths is None else stage_paths(repo, paths)
    tree_id = index.write_tree()
    parent = None if repo.head_is_unborn else repo.head.peel(pygit2.Commit)
    if parent is not None and parent.tree_id == tree_id and not allow_empty:
        raise GenerationFailed(
            f"step produced no changes in {ws_path} (commit {message.splitlines()[0]!r})"
            if message
            else "step produced no changes"
        )
    signature = pygit2.Signature(author.name, author.email, timestamp, 0)
    text = message if message.endswith("\n") else message + "\n"
    parents = [parent.id] if parent is not None else []
    sha = repo.create_commit("HEAD", signature, signature, text, tree_id, parents)
    stats = diff_stats(repo, str(parent.id) if parent else None, str(sha))
    return CommitResult(
        sha=str(sha),
        parent=str(parent.id) if parent else None,
        files=stats,
        lines_added=sum(f.lines_added for f in stats),
        lines_removed=sum(f.lines_removed for f in stats),
    )


def diff_stats(repo: pygit2.Repository, old: str | None, new: str) -> list[FileChangeStat]:
    """Per-file statistics and unified patches between two commits (renames detected)."""
    new_tree = repo[new].peel(pygit2.Tree)
    if old is None:
        diff = new_tree.diff_to_tree(swap=True)
    else:
        diff = repo[old].peel(pygit2.Tree).diff_to_tree(new_tree)
    diff.find_similar()
    out: list[FileChangeStat] = []
    for patch in diff:
        if patch is None:
            continue
        delta = patch.delta
        change = _CHANGE_TYPES.get(delta.status, ChangeType.MODIFIED)
        _, added, removed = patch.line_stats
        old_hash = str(delta.old_file.id)
        new_hash = str(delta.new_file.id)
        out.append(
            FileChangeStat(
                file_path=delta.new_file.path,
                change_type=change,
                previous_path=delta.old_file.path if change == ChangeType.RENAMED else None,
                previous_hash=None if old_hash == _ZERO else old_hash,
                new_hash=None if new_hash == _ZERO else new_hash,
                lines_added=added,
                lines_removed=removed,
                patch=patch.text or "",
            )
        )
    return out

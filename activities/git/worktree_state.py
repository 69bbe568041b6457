"""Where a worktree stands, and moving it back to a commit it already holds.

Activities check this before touching a worktree: a retried step resets to its parent
commit (cheap: only differing files are rewritten) instead of rebuilding everything.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, FileStatus

from activities.git.commits import diff_stats
from activities.git.hygiene import scrub_worktree
from domain.values import FileChangeStat


def worktree_head(path: Path) -> str | None:
    """The commit HEAD points at, or None when there is no usable worktree at `path`."""
    if not (path / ".git").exists():
        return None
    try:
        repo = pygit2.Repository(str(path))
        return None if repo.head_is_unborn else str(repo.head.target)
    except (pygit2.GitError, KeyError):
        return None


def has_commit(path: Path, sha: str) -> bool:
    try:
        return pygit2.Repository(str(path)).get(sha) is not None
    except (pygit2.GitError, ValueError):
        return False


def is_clean(path: Path) -> bool:
    """No staged, modified or untracked files (ignored files do not count)."""
    repo = pygit2.Repository(str(path))
    return all(flags == FileStatus.IGNORED for flags in repo.status().values())


def reset_worktree(path: Path, sha: str, branch: str) -> None:
    """Point `branch` at `sha`, check it out and drop everything else in the worktree,
    untracked and ignored files alike (a build's outputs included)."""
    repo = pygit2.Repository(str(path))
    commit = repo[sha].peel(pygit2.Commit)
    scrub_worktree(path, commit.tree)  # a planted symlink must not lead the checkout out
    repo.checkout_tree(
        commit,
        strategy=CheckoutStrategy.FORCE
        | CheckoutStrategy.REMOVE_UNTRACKED
        | CheckoutStrategy.REMOVE_IGNORED,
    )
    repo.references.create(f"refs/heads/{branch}", commit.id, force=True)
    repo.set_head(f"refs/heads/{branch}")


def range_patch(path: Path, base: str, head: str) -> tuple[str, list[FileChangeStat]]:
    """The unified patch of `base..head` and its per-file statistics."""
    repo = pygit2.Repository(str(path))
    stats = diff_stats(repo, base, head)
    return "".join(s.patch for s in stats), stats

"""Making a claimed workspace's git metadata, and a worktree before a checkout, builder's own.

Sandboxed commands see `.git` read-only, but a workspace may predate that, may have been used
unsandboxed, or may come from a builder bug; so every claim (new, kept or warm) puts the
metadata back into a known shape instead of trusting it: a canonical minimal config (no
core.worktree, no fsmonitor, no hooksPath, no alternates), no hooks, no info/ (attributes,
excludes, grafts, sparse-checkout), no reflogs, no shallow file, no replace refs. A `.git` that
is not a real directory, or whose objects or refs are not, cannot be repaired: the caller
discards the workspace.

libgit2's checkout writes through a symlink that replaced a tracked directory (it wrote a
tracked file into the directory the link pointed at, on the host) and leaves the link in
place; so before every checkout `scrub_worktree` removes each symlink the target tree does
not have at that path, every FIFO, socket and device, and makes directories a run locked
(mode 000) usable again.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pygit2

from activities.listing import entries

CANONICAL_CONFIG = (
    "[core]\n"
    "\trepositoryformatversion = 0\n"
    "\tfilemode = true\n"
    "\tbare = false\n"
    "\tlogallrefupdates = false\n"
    "\tsymlinks = true\n"
)
# What a workspace's .git may hold; everything else is removed on claim.
KEPT = frozenset({"HEAD", "config", "objects", "refs", "index", "packed-refs"})


class UntrustedGitDir(Exception):
    """The workspace's .git cannot be made trustworthy; discard the workspace."""


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    if _is_real_dir(path):
        shutil.rmtree(path)
    else:
        path.unlink()


def sanitize_git_dir(worktree: Path, marker: str) -> None:
    """Reset `worktree/.git` to builder's canonical shape, keeping objects, refs, HEAD and the
    index (which only builder writes). Raises UntrustedGitDir when that is not possible."""
    git = worktree / ".git"
    if not _is_real_dir(git):
        raise UntrustedGitDir(f"{git} is not a directory")
    for name in ("objects", "refs", "objects/pack"):
        if os.path.lexists(git / name) and not _is_real_dir(git / name):
            raise UntrustedGitDir(f"{git / name} is not a directory")
    for entry in os.scandir(git / "objects"):
        if entry.is_symlink() or (entry.name != "info" and not entry.is_dir()):
            raise UntrustedGitDir(f"{entry.path} is not a plain object directory")
    for entry in os.scandir(git):
        if entry.name == marker:
            continue
        if entry.name not in KEPT or entry.is_symlink():
            _remove(Path(entry.path))
    for doomed in (git / "objects" / "info", git / "refs" / "replace"):
        if os.path.lexists(doomed):
            _remove(doomed)
    for dirpath, dirnames, filenames in os.walk(git / "refs"):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise UntrustedGitDir(f"{full} is neither a ref file nor a directory")
    for name in ("HEAD", "index", "packed-refs"):
        target = git / name
        if os.path.lexists(target) and not stat.S_ISREG(os.lstat(target).st_mode):
            raise UntrustedGitDir(f"{target} is not a regular file")
    tmp = git / "config.builder-tmp"
    tmp.write_text(CANONICAL_CONFIG)
    os.replace(tmp, git / "config")


def _tracked_symlink(tree: pygit2.Tree, path: str) -> bool:
    try:
        entry = tree[path]
    except KeyError:
        return False
    return entry.filemode == pygit2.enums.FileMode.LINK


def scrub_worktree(worktree: Path, tree: pygit2.Tree) -> list[str]:
    """Remove what a checkout of `tree` could be tricked by; the repository paths removed.
    File types come from the directory listing, so only directories (whose mode a run may
    have locked) are stat'ed, not every file of the repository."""
    removed: list[str] = []
    pending: list[tuple[str, str]] = [(str(worktree), "")]
    while pending:
        directory, prefix = pending.pop()
        for entry in entries(directory):
            rel = prefix + entry.name
            if rel == ".git":  # the metadata is the claim's to check (sanitize_git_dir)
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if mode & 0o700 != 0o700:
                        os.chmod(entry.path, stat.S_IMODE(mode) | 0o700)
                    pending.append((entry.path, rel + "/"))
                    continue
                if entry.is_file(follow_symlinks=False):
                    continue
                if entry.is_symlink() and _tracked_symlink(tree, rel):
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(rel)
    return removed

"""The worktree's difference from its base commit: what a turn changed, putting a turn's
changes back after a crash, the final edits and the partial patch (all blocking)."""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

import pygit2
from pygit2.enums import FileStatus

from activities.codegen.workspace import FilesystemWorkspace, normalize_path
from domain.edits import DeleteEdit, FileEdit, WriteEdit
from domain.errors import PolicyViolation

# files bigger than this, or not UTF-8, are not part of an agent's patch
MAX_PATCH_FILE_BYTES = 1024 * 1024
MAX_CHANGED_FILES = 2000

State = dict[str, str | None]  # path -> content digest, None when deleted


def changed_files(root: Path) -> State:
    """Every non-ignored path whose content differs from HEAD, with a digest of it."""
    repo = pygit2.Repository(str(root))
    out: State = {}
    for path, flags in sorted(repo.status().items()):
        if flags == FileStatus.IGNORED or flags == FileStatus.CURRENT:
            continue
        full = root / path
        if full.is_symlink():
            continue  # links are never part of an agent's patch (nor followed)
        if not full.exists():
            out[path] = None
        elif full.is_file():
            out[path] = hashlib.sha256(full.read_bytes()).hexdigest()
        if len(out) >= MAX_CHANGED_FILES:
            break
    return out


def delta(root: Path, before: State, after: State) -> list[FileEdit]:
    """The edits that take a worktree from `before` to `after` (text files only)."""
    view = FilesystemWorkspace(root)
    edits: list[FileEdit] = []
    for path in sorted(set(before) | set(after)):
        if before.get(path, "") == after.get(path, ""):
            continue
        if path not in after:  # back to the HEAD content
            content = head_text(root, path)
            edits.append(
                DeleteEdit(path=path) if content is None else WriteEdit(path=path, content=content)
            )
        elif after[path] is None:
            edits.append(DeleteEdit(path=path))
        else:
            text = view.read_text(path)
            if text is not None and len(text.encode()) <= MAX_PATCH_FILE_BYTES:
                edits.append(WriteEdit(path=path, content=text))
    return edits


def head_text(root: Path, path: str) -> str | None:
    repo = pygit2.Repository(str(root))
    try:
        entry = repo.head.peel(pygit2.Commit).tree[path]
    except (KeyError, pygit2.GitError):
        return None
    blob = repo[entry.id]
    if not isinstance(blob, pygit2.Blob):
        return None
    try:
        return blob.data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def apply_changes(root: Path, edits: list[FileEdit]) -> None:
    """Write a stored turn's changes back into the worktree."""
    base = root.resolve()
    for edit in edits:
        full = base / normalize_path(edit.path)
        if base not in full.resolve().parents:
            raise PolicyViolation(f"path {edit.path!r} resolves outside the repository")
        if isinstance(edit, WriteEdit):
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_text(edit.content)
        elif isinstance(edit, DeleteEdit):
            full.unlink(missing_ok=True)


def revert(root: Path, paths: list[str]) -> None:
    """Put `paths` back to their HEAD content (or remove them when HEAD has none)."""
    for path in paths:
        content = head_text(root, path)
        apply_changes(
            root,
            [DeleteEdit(path=path) if content is None else WriteEdit(path=path, content=content)],
        )


def final_edits(root: Path) -> list[FileEdit]:
    """The worktree's changes against HEAD as edits: what the delivered step commits."""
    return delta(root, {}, changed_files(root))


def partial_patch(root: Path, limit: int = 2_000_000) -> str:
    """A unified diff of the worktree against HEAD (what an unfinished run leaves)."""
    view = FilesystemWorkspace(root)
    parts: list[str] = []
    for path, digest in changed_files(root).items():
        old = head_text(root, path) or ""
        new = "" if digest is None else view.read_text(path) or ""
        parts += difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"a/{path}",
            tofile=f"b/{path}",
        )
    return "".join(parts)[:limit]

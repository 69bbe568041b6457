"""Read-only views of a worktree that change engines generate edits against.

`FilesystemWorkspace` reads a real worktree; `EditedWorkspace` layers not-yet-applied edits
over another view, so the edits of one step see each other and a plan can be simulated.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Protocol, runtime_checkable

from activities.sandbox.untrusted_files import (
    inside,
    is_regular_file,
    read_regular_file,
    regular_files,
)
from domain.edits import DeleteEdit, FileEdit, RenameEdit, WriteEdit
from domain.errors import PolicyViolation
from domain.paths import matches_glob


@runtime_checkable
class WorkspaceView(Protocol):
    """What an engine may know about the files of the worktree."""

    def read_text(self, path: str) -> str | None:
        """UTF-8 content of `path`, or None when it does not exist (or is not text)."""
        ...

    def exists(self, path: str) -> bool: ...

    def list_files(self, glob: str | None = None) -> list[str]:
        """Sorted repository-relative paths, optionally filtered by a git-style glob."""
        ...


def normalize_path(path: str) -> str:
    """Canonical repository-relative path; refuses absolute paths, `..` and `.git`."""
    if not path or "\x00" in path:
        raise PolicyViolation(f"path {path!r} is empty or contains a NUL byte")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise PolicyViolation(f"path {path!r} is absolute; edits must stay inside the repository")
    norm = posixpath.normpath(path.replace("\\", "/"))
    if norm == "." or norm.startswith("../") or norm == "..":
        raise PolicyViolation(f"path {path!r} escapes the repository")
    if norm == ".git" or norm.startswith(".git/"):
        raise PolicyViolation(f"path {path!r} is inside .git")
    return norm


class FilesystemWorkspace:
    """A worktree directory on disk; `.git` is invisible.

    The worktree may hold what a build left (symlinks to host files, FIFOs): reads follow a
    symlink only when it resolves inside the worktree, open nothing but regular files, never
    block, and stop at MAX_FILE_BYTES; listings show regular files only.
    """

    MAX_FILE_BYTES = 32 * 1024 * 1024

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def _full(self, path: str) -> Path:
        full = inside(self.root / normalize_path(path), self.root)
        if full is None:
            raise PolicyViolation(f"path {path!r} resolves outside the repository")
        return full

    def read_text(self, path: str) -> str | None:
        data = read_regular_file(self._full(path), self.root, self.MAX_FILE_BYTES)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def exists(self, path: str) -> bool:
        full = inside(self.root / normalize_path(path), self.root)
        return full is not None and is_regular_file(full)

    def list_files(self, glob: str | None = None) -> list[str]:
        out: list[str] = []
        for full in regular_files(self.root, skip_dirs=frozenset({".git"})):
            path = full.relative_to(self.root).as_posix()
            if glob is None or matches_glob(path, glob):
                out.append(path)
        return sorted(out)


class EditedWorkspace:
    """`base` as it will look once `edits` are applied, without touching it."""

    def __init__(self, base: WorkspaceView, edits: list[FileEdit] | None = None) -> None:
        self.base = base
        # path -> content, or None for a deleted path
        self.overlay: dict[str, str | None] = {}
        for edit in edits or []:
            self.apply(edit)

    def apply(self, edit: FileEdit) -> None:
        if isinstance(edit, WriteEdit):
            self.overlay[normalize_path(edit.path)] = edit.content
        elif isinstance(edit, DeleteEdit):
            self.overlay[normalize_path(edit.path)] = None
        elif isinstance(edit, RenameEdit):
            old = normalize_path(edit.path)
            content = edit.content if edit.content is not None else self.read_text(old)
            self.overlay[old] = None
            self.overlay[normalize_path(edit.new_path)] = content or ""

    def read_text(self, path: str) -> str | None:
        path = normalize_path(path)
        if path in self.overlay:
            return self.overlay[path]
        return self.base.read_text(path)

    def exists(self, path: str) -> bool:
        path = normalize_path(path)
        if path in self.overlay:
            return self.overlay[path] is not None
        return self.base.exists(path)

    def list_files(self, glob: str | None = None) -> list[str]:
        paths = {p for p in self.base.list_files() if self.overlay.get(p, "") is not None}
        paths |= {p for p, c in self.overlay.items() if c is not None}
        return sorted(p for p in paths if glob is None or matches_glob(p, glob))

    def edits(self) -> list[FileEdit]:
        """The overlay as a minimal list of write/delete edits against `base`."""
        out: list[FileEdit] = []
        for path in sorted(self.overlay):
            content = self.overlay[path]
            if content is None:
                if self.base.exists(path):
                    out.append(DeleteEdit(path=path))
            elif self.base.read_text(path) != content:
                out.append(WriteEdit(path=path, content=content))
        return out

"""Applies a step's file edits to a workspace, after checking every path against policy.

All edits are checked before any is written, so a refused step leaves the worktree as it
was. Refused: absolute paths, `..`, anything under a `.git` directory, paths that reach
outside the worktree through a symlink (also one planted in the repository), and paths the
execution's allowed/forbidden globs exclude.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from domain.edits import DeleteEdit, FileEdit, RenameEdit, WriteEdit
from domain.errors import GenerationFailed, PolicyViolation
from domain.paths import path_violation


def check_edit_path(worktree: Path, path: str, allowed: list[str], forbidden: list[str]) -> Path:
    """The absolute location of repository-relative `path`, or PolicyViolation naming the rule."""
    if not path or "\x00" in path or path != path.strip():
        raise PolicyViolation(f"path {path!r} is empty or has surrounding whitespace or NUL bytes")
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":") or os.path.isabs(path):
        raise PolicyViolation(f"path {path!r} is absolute; edits take repository-relative paths")
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        raise PolicyViolation(f"path {path!r} contains '..' and could escape the worktree")
    if any(part == "" or part == "." for part in parts):
        raise PolicyViolation(f"path {path!r} is not normalised (empty or '.' component)")
    if any(part.lower() == ".git" for part in parts):
        raise PolicyViolation(
            f"path {path!r} is inside a .git directory, which edits may not touch"
        )
    reason = path_violation(path, allowed, forbidden)
    if reason is not None:
        raise PolicyViolation(reason)
    root = os.path.realpath(worktree)
    target = os.path.join(root, *parts)
    # the deepest existing ancestor decides where a write really lands
    probe = target
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    resolved = os.path.realpath(probe)
    inside = resolved == root or resolved.startswith(root + os.sep)
    if not inside:
        raise PolicyViolation(
            f"path {path!r} goes through a symlink that leaves the worktree (to {resolved!r})"
        )
    rel_parts = os.path.relpath(resolved, root).split(os.sep)
    if any(part.lower() == ".git" for part in rel_parts):
        raise PolicyViolation(f"path {path!r} goes through a symlink into the .git directory")
    _check_file_types(root, path, parts)
    return Path(target)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _check_file_types(root: str, path: str, parts: list[str]) -> None:
    """Every ancestor is a real directory (no symlink, even one inside the worktree) and the
    target, when it exists, is something an edit may replace; PolicyViolation otherwise."""
    current = root
    for depth, part in enumerate(parts):
        current = os.path.join(current, part)
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return
        shown = "/".join(parts[: depth + 1])
        if depth == len(parts) - 1:
            if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode) or stat.S_ISDIR(mode)):
                raise PolicyViolation(
                    f"path {path!r} is {_kind(mode)} in the worktree; edits only create, "
                    "replace or remove regular files",
                    details={"path": path},
                )
            return
        if stat.S_ISLNK(mode):
            raise PolicyViolation(
                f"path {path!r} goes through the symlink {shown!r}; edits never follow symlinks",
                details={"path": path, "symlink": shown},
            )
        if not stat.S_ISDIR(mode):
            raise PolicyViolation(
                f"path {path!r} is below {shown!r}, which is {_kind(mode)}, not a directory",
                details={"path": path, "blocking": shown},
            )


def apply_edits(
    ws_path: Path | str,
    edits: list[FileEdit],
    allowed_paths: list[str] | None = None,
    forbidden_paths: list[str] | None = None,
) -> list[str]:
    """Check every edit, then apply them in order; the repository paths touched."""
    worktree = Path(ws_path)
    allowed = list(allowed_paths or [])
    forbidden = list(forbidden_paths or [])
    planned: list[tuple[FileEdit, Path, Path | None]] = []
    for edit in edits:
        source = check_edit_path(worktree, edit.path, allowed, forbidden)
        destination = None
        if isinstance(edit, RenameEdit):
            destination = check_edit_path(worktree, edit.new_path, allowed, forbidden)
        planned.append((edit, source, destination))
    _check_preconditions(Path(os.path.realpath(worktree)), planned)
    touched: list[str] = []
    for edit, source, destination in planned:
        if isinstance(edit, WriteEdit):
            _write(source, edit.content, edit.executable)
        elif isinstance(edit, DeleteEdit):
            source.unlink()
            _prune_empty_dirs(source.parent, worktree)
        else:
            assert destination is not None
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, destination)
            if edit.content is not None:
                _write(destination, edit.content, False)
            _prune_empty_dirs(source.parent, worktree)
            touched.append(edit.path)
            touched.append(edit.new_path)
            continue
        touched.append(edit.path)
    return touched


def _check_preconditions(root: Path, planned: list[tuple[FileEdit, Path, Path | None]]) -> None:
    """Simulate existence so an impossible edit fails before anything is written."""
    created: set[Path] = set()
    removed: set[Path] = set()

    def exists(p: Path) -> bool:
        return p in created or (p not in removed and os.path.lexists(p))

    def check_written(edit_path: str, target: Path) -> None:
        for parent in target.parents:
            if parent in created:
                raise PolicyViolation(
                    f"path {edit_path!r} is below {parent.relative_to(root).as_posix()!r}, "
                    "which an earlier edit of this step writes as a file",
                    details={"path": edit_path},
                )
        if any(target in c.parents for c in created):
            raise PolicyViolation(
                f"cannot write {edit_path!r} as a file: an earlier edit of this step "
                "creates files below it",
                details={"path": edit_path},
            )

    for edit, source, destination in planned:
        if isinstance(edit, WriteEdit):
            check_written(edit.path, source)
        elif isinstance(edit, RenameEdit):
            assert destination is not None
            check_written(edit.new_path, destination)
        if isinstance(edit, WriteEdit):
            if source.is_dir() and not source.is_symlink() and source not in removed:
                raise GenerationFailed(f"cannot write {edit.path!r}: it is a directory")
            created.add(source)
            removed.discard(source)
        elif isinstance(edit, DeleteEdit):
            if not exists(source) or (source.is_dir() and not source.is_symlink()):
                raise GenerationFailed(f"cannot delete {edit.path!r}: no such file")
            removed.add(source)
            created.discard(source)
        else:
            assert destination is not None
            if not exists(source):
                raise GenerationFailed(f"cannot rename {edit.path!r}: no such file")
            if exists(destination):
                raise GenerationFailed(
                    f"cannot rename {edit.path!r} to {edit.new_path!r}: the target exists"
                )
            removed.add(source)
            created.discard(source)
            created.add(destination)
            removed.discard(destination)


def _write(target: Path, content: str, executable: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    keep_exec = False
    if target.is_file() and not target.is_symlink():
        keep_exec = bool(target.stat().st_mode & stat.S_IXUSR)
    mode = 0o755 if executable or keep_exec else 0o644
    # write beside and rename: never follows a symlink at the target, never half-written
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".builder-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content.encode("utf-8"))
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _prune_empty_dirs(directory: Path, worktree: Path) -> None:
    root = Path(os.path.realpath(worktree))
    current = Path(os.path.realpath(directory))
    while current != root and root in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent

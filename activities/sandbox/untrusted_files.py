"""Builder's own reads of files an untrusted command could have made: worktree files, reports.

A build can leave a symlink to a host file (the vault key, /etc/shadow) or a FIFO that blocks
whoever opens it. Reads here never leave the root they are given, never follow a symlink at
the last step (the path is resolved first, then opened with O_NOFOLLOW), never open anything
but a regular file (O_NONBLOCK, so a FIFO cannot block the open), and read at most a limit.
No sandboxed process is alive when builder reads (every run's process tree is killed), so
nothing swaps a path between the check and the open.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY


def inside(path: Path | str, root: Path | str) -> Path | None:
    """The resolved `path` when it stays inside `root` (and out of root/.git), else None."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        return None
    rel = os.path.relpath(real, real_root)
    if rel.split(os.sep)[0] == ".git":
        return None
    return Path(real)


def read_regular_file(path: Path | str, root: Path | str, limit: int) -> bytes | None:
    """Content of `path` when it is a regular file inside `root` of at most `limit` bytes;
    None when it is missing, a directory, a FIFO or device, outside `root`, or too large."""
    real = inside(path, root)
    if real is None:
        return None
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        return None if len(data) > limit else data
    except OSError:
        return None
    finally:
        os.close(fd)


def is_regular_file(path: Path | str) -> bool:
    """`path` itself (not what a symlink points at) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def regular_files(root: Path, skip_dirs: frozenset[str] = frozenset()) -> Iterator[Path]:
    """Every regular file below `root`; symlinks, FIFOs, sockets and devices are skipped and
    symlinked directories are never entered."""
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in skip_dirs)
        for name in sorted(files):
            path = Path(directory) / name
            if is_regular_file(path):
                yield path

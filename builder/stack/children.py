"""Child processes that die with `builder dev`, and leftovers of one that did not.

A `kill -9` of `builder dev` runs none of its cleanup, so its children must not depend on
it: the Temporal dev server gets a parent-death signal (`PR_SET_PDEATHSIG`), and embedded
Postgres, which `pg_ctl` daemonizes, gets a watchdog (builder/stack/watchdog.py). Children
left by a crash of an older version (or of a watchdog) are found through /proc by what
they serve — the state directory's files — and stopped at the next start.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A `preexec_fn` that makes the child receive `sig` when this process dies.

    Linux delivers the signal when the *thread* that forked the child exits, so start such
    children from the main thread. If the parent died between fork and prctl, the child
    signals itself at once instead of living on as an orphan.
    """
    parent = os.getpid()
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            os._exit(126)  # refuse to run without the guarantee
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return preexec


@dataclass(frozen=True)
class Leftover:
    """A process a crashed `builder dev` left running."""

    pid: int
    what: str


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of every process this user can see, from /proc."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = _cmdline(int(entry))
            if argv:
                yield int(entry), argv


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def temporal_leftovers(db_file: Path) -> list[Leftover]:
    """Temporal dev servers serving `db_file` (nothing else may hold that SQLite file)."""
    target = str(db_file)
    found = []
    for pid, argv in processes():
        if pid == os.getpid() or "start-dev" not in argv:
            continue
        if any(a == target and argv[i - 1] == "--db-filename" for i, a in enumerate(argv) if i):
            found.append(Leftover(pid, "Temporal dev server"))
    return found


def postgres_leftover(data_dir: Path) -> Leftover | None:
    """The postmaster of `data_dir` when its postmaster.pid names a live postgres."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    argv = _cmdline(pid)
    if alive(pid) and argv and Path(argv[0]).name in ("postgres", "postmaster"):
        return Leftover(pid, "embedded Postgres")
    return None


def stop(pid: int, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Send `sig`, wait for the process to go, SIGKILL it when it does not in time."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + timeout
        time.sleep(0.05)

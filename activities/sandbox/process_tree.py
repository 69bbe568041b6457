"""Ending every process a run started, including daemons that left its process group.

Under bubblewrap the command lives in its own pid namespace, and killing the namespace's init
kills everything in it. Without bubblewrap a daemon that calls setsid or double-forks escapes
the process group, so each run also tags its environment with a unique marker and the kill
sweeps /proc for processes that still carry it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from activities.sandbox.environment import RUN_MARKER_VAR


def processes_with_marker(marker: str) -> list[int]:
    """Pids whose environment carries this run's marker (readable ones only)."""
    needle = f"{RUN_MARKER_VAR}={marker}".encode()
    found: list[int] = []
    own = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _signal_pids(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def terminate_run(pgid: int, marker: str, grace_s: float, leader_done: Callable[[], bool]) -> None:
    """SIGTERM the group and marked processes, SIGKILL whatever is left after `grace_s`.
    When the command already ended on its own, whatever it left behind gets SIGKILL at
    once: nothing waits on a straggler, and the usual case (none) costs one sweep of /proc
    instead of three."""
    if leader_done():
        _kill_until_none_remain(pgid, marker)
        return
    _signal_group(pgid, signal.SIGTERM)
    _signal_pids(processes_with_marker(marker), signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if leader_done() and not processes_with_marker(marker):
            break
        time.sleep(0.02)
    _kill_until_none_remain(pgid, marker)


def _kill_until_none_remain(pgid: int, marker: str) -> None:
    # A process may fork while we sweep; repeat until a sweep finds nothing.
    for _ in range(50):
        _signal_group(pgid, signal.SIGKILL)
        remaining = processes_with_marker(marker)
        if not remaining:
            return
        _signal_pids(remaining, signal.SIGKILL)
        time.sleep(0.02)

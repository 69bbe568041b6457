"""Progress reporting and cancellation shared by every long git operation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from activities.git.errors import OperationCancelled

ProgressCallback = Callable[[str], None]


def check_cancelled(cancel: threading.Event | None, doing: str) -> None:
    """Raise OperationCancelled when the caller asked us to stop."""
    if cancel is not None and cancel.is_set():
        raise OperationCancelled(f"cancelled while {doing}")


class ProgressReporter:
    """Forwards progress messages, throttled so heartbeats are not flooded."""

    def __init__(self, progress: ProgressCallback | None, interval_seconds: float = 0.5) -> None:
        self._progress = progress
        self._interval = interval_seconds
        self._last = 0.0

    @property
    def active(self) -> bool:
        return self._progress is not None

    def report(self, message: str, *, force: bool = False) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if force or now - self._last >= self._interval:
            self._last = now
            self._progress(message)

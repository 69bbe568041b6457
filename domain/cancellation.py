"""Cancellation of long engine calls (clone, analysis, model calls, builds).

Engines take a `threading.Event`; when it is set they stop promptly and raise
`OperationCancelled`, which activities translate into Temporal's cancellation.
"""

from __future__ import annotations

import threading

from domain.enums import ErrorCode
from domain.errors import DomainError


class OperationCancelled(DomainError):
    """A long engine call stopped because its cancellation signal was set."""

    code = ErrorCode.CANCELLED


def raise_if_cancelled(cancel: threading.Event | None, what: str) -> None:
    """Raise OperationCancelled naming `what` when `cancel` is set."""
    if cancel is not None and cancel.is_set():
        raise OperationCancelled(f"{what} was cancelled")

"""Failures specific to the git engine, on top of the domain's error classes."""

from __future__ import annotations

from domain.cancellation import OperationCancelled
from domain.enums import ErrorCode
from domain.errors import DomainError

__all__ = ["OperationCancelled", "ReplayDiverged"]


class ReplayDiverged(DomainError):
    """Replaying stored steps produced a different commit than the one recorded."""

    code = ErrorCode.INTERNAL

"""Failures specific to the git engine, on top of the domain's error classes."""

from __future__ import annotations

from domain.enums import ErrorCode
from domain.errors import DomainError


class OperationCancelled(DomainError):
    """The caller set the cancellation event; the operation stopped where it was."""

    code = ErrorCode.CANCELLED


class ReplayDiverged(DomainError):
    """Replaying stored steps produced a different commit than the one recorded."""

    code = ErrorCode.INTERNAL

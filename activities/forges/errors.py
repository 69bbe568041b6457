"""Failures of forge API calls, as domain errors every layer maps the same way.

Messages name the provider, the call and what to do; they never carry a credential (the
HTTP layer redacts the provider's own text before it gets here).
"""

from __future__ import annotations

from typing import Any

from domain.enums import ErrorCode
from domain.errors import DomainError, PolicyViolation, RepositoryAccessError


class ForgeNotConfigured(PolicyViolation):
    """builder cannot tell which forge hosts the repository, or a forge property is bad."""


class ForgeAuthFailed(RepositoryAccessError):
    """The forge refused the credential (401) or its permissions (403): never retried."""

    retryable = False


class ForgeNotFound(RepositoryAccessError):
    """The repository or pull request is not there, or the credential cannot see it."""

    retryable = False


class ForgeRateLimited(RepositoryAccessError):
    """The forge asked us to slow down; Temporal retries after the server's delay."""

    retryable = True

    def __init__(
        self, message: str, *, retry_after_seconds: float, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after_seconds = retry_after_seconds


class ForgeUnavailable(RepositoryAccessError):
    """The forge could not be reached or answered 5xx: worth another try."""

    retryable = True


class ForgeRequestRejected(DomainError):
    """The forge understood the call and refused it (400/409/422): not retried as is."""

    code = ErrorCode.PUSH_FAILED
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int,
        provider_message: str,
        body: Any = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.provider_message = provider_message
        # the parsed (bounded, redacted-on-display) error body, for "already exists" checks
        self.body = body

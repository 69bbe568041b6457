"""Domain exceptions. Each carries an ErrorCode so every layer maps it the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.enums import ErrorCode


class DomainError(Exception):
    """Base of every known failure; `retryable` tells Temporal whether to try again."""

    code: ErrorCode = ErrorCode.INTERNAL
    retryable: bool = False
    # how long the remote asked us to wait before trying again (Retry-After), when it said
    retry_after_seconds: float | None = None

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if retry_after_seconds is not None:
            self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class FieldError:
    """One broken validation rule: the field and the seed's message."""

    field: str
    message: str


class ValidationFailed(DomainError):
    """Bad input; lists every broken rule, one message each."""

    code = ErrorCode.INVALID_INPUT

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


class NotFound(DomainError):
    """The object does not exist, or belongs to another tenant (indistinguishable on purpose)."""

    code = ErrorCode.INVALID_INPUT


class Conflict(DomainError):
    """The write collides with existing state (duplicate name, key reuse, ...)."""

    code = ErrorCode.INVALID_INPUT


class InvalidTransition(DomainError):
    """A feature execution state change the state machine does not allow."""

    code = ErrorCode.INTERNAL


class PolicyViolation(DomainError):
    """An edit or URL that breaks a safety policy: never retried."""

    code = ErrorCode.INVALID_INPUT


class RepositoryAccessError(DomainError):
    """The remote could not be reached or refused the credentials."""

    code = ErrorCode.REPOSITORY_ACCESS


class PushRejected(DomainError):
    """The push would overwrite commits builder did not make."""

    code = ErrorCode.PUSH_FAILED


class GenerationFailed(DomainError):
    """A change engine could not produce or apply edits for a step."""

    code = ErrorCode.GENERATION_FAILED


class PlanningFailed(DomainError):
    """A change engine could not produce a valid plan."""

    code = ErrorCode.PLANNING_FAILED


class BudgetExceeded(DomainError):
    """The execution spent its token or money budget."""

    code = ErrorCode.GENERATION_FAILED


class BuildFailed(DomainError):
    """The repository's build command failed."""

    code = ErrorCode.BUILD_FAILED


class TestsFailed(DomainError):
    """The repository's test command failed."""

    __test__ = False
    code = ErrorCode.TEST_FAILED


class CommandTimedOut(DomainError):
    """A sandboxed command ran past its wall-clock limit."""

    code = ErrorCode.TIMEOUT


class SandboxUnavailable(DomainError):
    """No sandbox is available and unsandboxed mode is not allowed."""

    code = ErrorCode.INTERNAL


class LockUnavailable(DomainError):
    """Another execution holds the lock on this repository and branch."""

    code = ErrorCode.INVALID_INPUT
    retryable = True

"""How an activity's failure becomes the execution's ExecutionError, and the exception that
ends the pipeline with one."""

from __future__ import annotations

from typing import Any

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    TimeoutError,
    TimeoutType,
)

from domain.contracts import FeatureExecutionOutput
from domain.enums import ErrorCode, FeatureState
from domain.values import ExecutionError


class Stop(Exception):
    """Ends the pipeline with a recorded ExecutionError."""

    def __init__(self, error: ExecutionError) -> None:
        super().__init__(error.message)
        self.error = error


def error_of(err: FailureError, failed_step: int | None) -> ExecutionError:
    """The ExecutionError an activity failure stands for (its ErrorCode is the type). A
    local activity that exhausted its retries may raise its ApplicationError unwrapped."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        try:
            code = ErrorCode(cause.type) if cause.type else ErrorCode.INTERNAL
        except ValueError:
            code = ErrorCode.INTERNAL
        details: dict[str, Any] | None = (
            cause.details[0] if cause.details and isinstance(cause.details[0], dict) else None
        )
        return ExecutionError(
            code=code,
            message=cause.message,
            details=details,
            retryable=not cause.non_retryable,
            failed_step=failed_step,
        )
    if isinstance(cause, TimeoutError):
        return ExecutionError(
            code=ErrorCode.TIMEOUT,
            message=f"activity timed out ({cause.type})",
            failed_step=failed_step,
        )
    return ExecutionError(
        code=ErrorCode.INTERNAL, message=str(cause or err), failed_step=failed_step
    )


def worker_gone(err: ActivityError) -> bool:
    """The worker holding the worktree did not pick the task up in time."""
    cause = err.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START


def failed(error: ExecutionError) -> FeatureExecutionOutput:
    """The outcome of a run that ended with `error`."""
    return FeatureExecutionOutput(state=FeatureState.FAILED.label, error=error)


def cancelled(reason: str | None) -> FeatureExecutionOutput:
    """The outcome of a cancelled run."""
    return FeatureExecutionOutput(
        state=FeatureState.CANCELLED.label,
        error=ExecutionError(code=ErrorCode.CANCELLED, message=reason or "cancelled"),
    )

"""Timeouts and retry policies per activity kind, in one place."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from domain.enums import ErrorCode

# Errors that will not get better by trying again.
NON_RETRYABLE = [
    ErrorCode.INVALID_INPUT.value,
    ErrorCode.GENERATION_FAILED.value,
    ErrorCode.PLANNING_FAILED.value,
    ErrorCode.BUILD_FAILED.value,
    ErrorCode.TEST_FAILED.value,
    ErrorCode.PUSH_FAILED.value,
    ErrorCode.TIMEOUT.value,
    ErrorCode.ANALYSIS_FAILED.value,
]

# Bookkeeping (state, events, locks): fast, retried until Postgres answers.
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=NON_RETRYABLE,
)

# Work on the worktree or the remote: heartbeats so a dead worker is noticed quickly.
WORKTREE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
    non_retryable_error_types=NON_RETRYABLE,
)
HEARTBEAT = timedelta(seconds=15)
CLONE_TIMEOUT = timedelta(minutes=30)
STEP_TIMEOUT = timedelta(minutes=15)
VERIFY_TIMEOUT = timedelta(minutes=60)
PUSH_TIMEOUT = timedelta(minutes=10)
# How long a worker-specific task may wait for its worker before the workspace moves.
WORKER_AFFINITY_WAIT = timedelta(seconds=30)
LOCK_REFRESH_EVERY = timedelta(seconds=30)
LOCK_RETRY_EVERY = timedelta(seconds=10)

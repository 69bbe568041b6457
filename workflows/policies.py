"""Timeouts and retry policies per activity kind, in one place.

One retry taxonomy: an activity says whether its failure is worth retrying (a DomainError's
`retryable`, mapped to ApplicationError.non_retryable in activities/runtime.py, with the
server's delay as `next_retry_delay` when it gave one); the policies below only bound how
long and how often. No ErrorCode is listed as non-retryable here, so a retryable failure
(a 429 from the model) really is retried whatever its code; the one type listed is the
SDK's own for an activity the worker does not register (BATCH_RETRY).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio.common import RetryPolicy

from domain.contracts import STEP_TIMEOUT_S

# Bookkeeping (state, events, locks): short Postgres writes, retried through a database
# restart but not forever (WorkflowTimings.bookkeeping_give_up_s): a bug fails the run.
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
_BOOKKEEPING_FIRST_BACKOFF_S = 0.2
_BOOKKEEPING_MAX_BACKOFF_S = 10.0


def bookkeeping_retry(give_up: timedelta) -> RetryPolicy:
    """Backoff from 0.2 s doubling to 10 s, with as many attempts as fit in `give_up`
    (local activities do not stop retrying at their schedule-to-close timeout)."""
    attempts, waited, backoff = 1, 0.0, _BOOKKEEPING_FIRST_BACKOFF_S
    while waited + backoff <= give_up.total_seconds():
        waited += backoff
        attempts += 1
        backoff = min(backoff * 2, _BOOKKEEPING_MAX_BACKOFF_S)
    return RetryPolicy(
        initial_interval=timedelta(seconds=_BOOKKEEPING_FIRST_BACKOFF_S),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=_BOOKKEEPING_MAX_BACKOFF_S),
        maximum_attempts=attempts,
    )


# Work on the worktree or the remote: heartbeats so a dead worker is noticed quickly.
WORKTREE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)
# apply_steps on a worker from before it: the SDK's NotFoundError will not go away with
# retries, and the workflow falls back to one apply_step per step (workflows/steps.py)
NOT_REGISTERED = "NotFoundError"
BATCH_RETRY = dataclasses.replace(WORKTREE_RETRY, non_retryable_error_types=[NOT_REGISTERED])
# A phase that ran into its own start-to-close limit will not finish sooner next time; a
# second attempt covers a worker that died without heartbeating, not a slow build.
VERIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=2,
)
# Forge API calls (pull requests, comments): a 429's Retry-After sets the next attempt's
# delay (next_retry_delay overrides the interval), a 5xx or unreachable forge backs off; a
# 401/403 or a refused request is non-retryable and ends the run at once.
FORGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
)
FORGE_TIMEOUT = timedelta(minutes=5)
HEARTBEAT = timedelta(seconds=15)
CLONE_TIMEOUT = timedelta(minutes=30)
STEP_TIMEOUT = timedelta(seconds=STEP_TIMEOUT_S)
PUSH_TIMEOUT = timedelta(minutes=10)
CLEANUP_TIMEOUT = timedelta(minutes=5)
# The run's waits (lock retry and refresh, worker affinity, history length) are in
# domain.contracts.WorkflowTimings: tunable per run.

"""Timeouts and retry policies per activity kind, in one place.

One retry taxonomy: an activity says whether its failure is worth retrying (a DomainError's
`retryable`, mapped to ApplicationError.non_retryable in activities/runtime.py, with the
server's delay as `next_retry_delay` when it gave one); the policies below only bound how
long and how often. No error type is listed as non-retryable here, so a retryable failure
(a 429 from the model) really is retried whatever its ErrorCode.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Bookkeeping (state, events, locks): short Postgres writes, retried through a database
# restart but not forever: a bug fails the run instead of retrying for ever.
BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
BOOKKEEPING_SCHEDULE_TO_CLOSE = timedelta(minutes=10)
BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)

# Work on the worktree or the remote: heartbeats so a dead worker is noticed quickly.
WORKTREE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)
# A phase that ran into its own start-to-close limit will not finish sooner next time; a
# second attempt covers a worker that died without heartbeating, not a slow build.
VERIFY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=2,
)
HEARTBEAT = timedelta(seconds=15)
CLONE_TIMEOUT = timedelta(minutes=30)
STEP_TIMEOUT = timedelta(minutes=15)
PUSH_TIMEOUT = timedelta(minutes=10)
CLEANUP_TIMEOUT = timedelta(minutes=5)
# How long a worker-specific task may wait for its worker before the workspace moves.
WORKER_AFFINITY_WAIT = timedelta(seconds=30)

LOCK_REFRESH_EVERY = timedelta(seconds=30)
# A refresh that cannot reach Postgres for this long may have let the lease expire (TTL
# 120 s by default): the run stops rather than push without the lock.
LOCK_REFRESH_GRACE = timedelta(seconds=60)
LOCK_RETRY_EVERY = timedelta(seconds=10)

# Long waits (for the lock, for plan approval) continue as new past this many events, well
# before Temporal's hard limit of 51,200 (or when the server suggests it earlier).
HISTORY_EVENTS_LIMIT = 2_000

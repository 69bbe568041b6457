"""The run's lock on (repository, feature branch): acquired (waiting for it when asked),
kept fresh while the run works, released at the end. A lease that cannot be kept stops the
run at once instead of being noticed at push time."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

from domain.contracts import ExecutionRef, LockRequest, LockResult
from domain.enums import ErrorCode
from domain.values import ExecutionError
from workflows import policies
from workflows.activities import LockActivities
from workflows.calls import bookkeeping
from workflows.failures import Stop

# workflow.patched ids: see docs/operations.md, "Changing the workflow"
LEASE_LOSS_STOPS_RUN = "lease-loss-stops-run"
LONG_WAITS_CONTINUE_AS_NEW = "long-waits-continue-as-new"


def history_too_long() -> bool:
    """Whether a long wait should continue as new now."""
    info = workflow.info()
    return (
        info.is_continue_as_new_suggested()
        or info.get_current_history_length() > policies.HISTORY_EVENTS_LIMIT
    )


class Lease:
    """The lock as this run holds it (or waits for it)."""

    def __init__(self, ref: ExecutionRef, owner_id: str, held: LockResult | None = None) -> None:
        self._ref = ref
        self.owner_id = owner_id
        self.held = held

    def _request(self) -> LockRequest:
        token = self.held.fencing_token if self.held else None
        return LockRequest(ref=self._ref, owner_id=self.owner_id, fencing_token=token)

    async def acquire(self, *, wait: bool, continue_as_new: Callable[[], None]) -> LockResult:
        """Take the lock; wait for it when `wait`, calling `continue_as_new` (which does not
        return) once the wait has made the history long."""
        while True:
            lock = await bookkeeping(LockActivities.acquire_lock, self._request())
            if lock.acquired:
                self.held = lock
                return lock
            if not wait:
                raise Stop(
                    ExecutionError(
                        code=ErrorCode.INVALID_INPUT,
                        message=(
                            f"another execution ({lock.holder_execution_id}) holds the lock "
                            f"{lock.lock_key}; retry when it ends"
                        ),
                        details={"lock_key": lock.lock_key, "holder": lock.holder_execution_id},
                        retryable=True,
                    )
                )
            if history_too_long() and workflow.patched(LONG_WAITS_CONTINUE_AS_NEW):
                continue_as_new()
            await workflow.sleep(policies.LOCK_RETRY_EVERY)

    async def keep(self, lost: Callable[[ExecutionError], None]) -> None:
        """Refresh until cancelled; tell `lost` (and stop) when the lease is gone or cannot
        be refreshed within the grace period."""
        while True:
            await workflow.sleep(policies.LOCK_REFRESH_EVERY)
            failed = False
            try:
                lock = await bookkeeping(
                    LockActivities.refresh_lock,
                    self._request(),
                    schedule_to_close=policies.LOCK_REFRESH_GRACE,
                )
                reason = None if lock.acquired else "it expired and was taken or released"
            except ActivityError as err:
                failed, reason = True, f"it could not be refreshed ({err.cause or err})"
            if reason is None:
                continue
            if not workflow.patched(LEASE_LOSS_STOPS_RUN):
                if failed:  # the previous version's refresher died with the failed refresh
                    return
                continue
            key = self.held.lock_key if self.held else "the branch"
            lost(
                ExecutionError(
                    code=ErrorCode.INTERNAL,
                    message=(
                        f"lost the lock {key}: {reason}; stopped before pushing anything "
                        "(another execution may be working on the branch)"
                    ),
                    details={"reason": "lease_lost", "lock_key": key},
                    retryable=True,
                )
            )
            return

    async def release(self) -> None:
        if self.held is not None and self.held.acquired:
            await bookkeeping(LockActivities.release_lock, self._request())

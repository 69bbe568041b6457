"""The run's lock on (repository, feature branch): acquired (waiting for it when asked),
kept fresh while the run works, released at the end. A lease that cannot be kept stops the
run at once instead of being noticed at push time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError, is_cancelled_exception

from domain.contracts import (
    ExecutionRef,
    LockRequest,
    LockResult,
    RecordStateInput,
    WorkflowTimings,
)
from domain.enums import ErrorCode
from domain.values import ExecutionError
from workflows.activities import LockActivities
from workflows.calls import bookkeeping
from workflows.failures import Stop
from workflows.patches import LEASE_LOSS_STOPS_RUN, LONG_WAITS_CONTINUE_AS_NEW, applied


def history_too_long(timings: WorkflowTimings) -> bool:
    """Whether a long wait should continue as new now."""
    info = workflow.info()
    return (
        info.is_continue_as_new_suggested()
        or info.get_current_history_length() > timings.history_events_limit
    )


class Lease:
    """The lock as this run holds it (or waits for it)."""

    def __init__(
        self,
        ref: ExecutionRef,
        timings: WorkflowTimings,
        owner_id: str,
        held: LockResult | None = None,
    ) -> None:
        self._ref = ref
        self._timings = timings
        self._give_up = timedelta(seconds=timings.bookkeeping_give_up_s)
        self.owner_id = owner_id
        self.held = held

    def _request(self, state: RecordStateInput | None = None) -> LockRequest:
        token = self.held.fencing_token if self.held else None
        return LockRequest(ref=self._ref, owner_id=self.owner_id, fencing_token=token, state=state)

    async def acquire(self, *, wait: bool, continue_as_new: Callable[[], None]) -> LockResult:
        """Take the lock; wait for it when `wait`, calling `continue_as_new` (which does not
        return) once the wait has made the history long."""
        while True:
            lock = await bookkeeping(
                LockActivities.acquire_lock, self._request(), give_up=self._give_up
            )
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
            if history_too_long(self._timings) and applied(LONG_WAITS_CONTINUE_AS_NEW):
                continue_as_new()
            await workflow.sleep(self._timings.lock_retry_every_s)

    async def keep(self, lost: Callable[[ExecutionError], None]) -> None:
        """Refresh until cancelled; tell `lost` (and stop) when the lease is gone or cannot
        be refreshed within the grace period."""
        while True:
            await workflow.sleep(self._timings.lock_refresh_every_s)
            failed = False
            try:
                lock = await bookkeeping(
                    LockActivities.refresh_lock,
                    self._request(),
                    give_up=timedelta(seconds=self._timings.lock_refresh_grace_s),
                )
                reason = None if lock.acquired else "it expired and was taken or released"
            except FailureError as err:  # a local activity may fail with its own error
                if is_cancelled_exception(err):
                    raise  # the run is done with the lease, not the other way round
                failed, reason = True, f"it could not be refreshed ({err.cause or err})"
            if reason is None:
                continue
            if not applied(LEASE_LOSS_STOPS_RUN):
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

    async def release(self, state: RecordStateInput | None = None) -> LockResult:
        """Give the lock up, recording `state` (the run's final one) in the same call. With
        no lock held nothing is called, and the result says `state` was not recorded."""
        if self.held is not None and self.held.acquired:
            request = self._request(state)
            return await bookkeeping(LockActivities.release_lock, request, give_up=self._give_up)
        return LockResult(acquired=False, lock_key="")

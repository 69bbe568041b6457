"""Waiting for one of the tenant's execution slots (the per-tenant concurrency limit).

The run stays `pending` while it waits; its queue position is in the current details (and
in the `admit` activity's heartbeat details while it polls). The slot is held by the
execution's admission row until the execution reaches a terminal state: the workflow never
releases anything itself, so a cancelled or failed wait can release nothing it did not hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from domain.contracts import (
    AdmissionRequest,
    AdmissionResult,
    ExecutionRef,
    RecordStateInput,
    WorkflowTimings,
)
from workflows.activities import AdmissionActivities
from workflows.journal import Journal
from workflows.lease import history_too_long

# a database outage only delays admission; the wait itself is bounded by timeout_minutes
ADMISSION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


class AdmissionWait:
    """Ask for a slot; while the tenant is at its limit, wait in FIFO order."""

    def __init__(self, ref: ExecutionRef, timings: WorkflowTimings) -> None:
        self._ref = ref
        self._timings = timings
        self.position: int | None = None

    async def wait(
        self,
        journal: Journal,
        continue_as_new: Callable[[], None],
        state: RecordStateInput | None = None,
    ) -> AdmissionResult:
        """Until admitted; `state` is recorded with the admission."""
        window = 0.0  # the first answer comes at once, so the position shows at once
        while True:
            result = await self._admit(window, state)
            if result.admitted:
                if self.position is not None:
                    self.position = None
                    journal.show()
                return result
            self.position = result.position
            journal.show(
                f"**waiting for an execution slot**: position {result.position or '?'} "
                f"in the tenant's queue (limit {result.limit})"
            )
            if history_too_long(self._timings):
                continue_as_new()
            window = self._timings.admission_window_s

    async def _admit(self, window: float, state: RecordStateInput | None) -> AdmissionResult:
        poll = self._timings.admission_poll_max_s
        return await workflow.execute_activity_method(
            AdmissionActivities.admit,
            AdmissionRequest(ref=self._ref, window_s=window, poll_max_s=poll, state=state),
            start_to_close_timeout=timedelta(seconds=window + 60),
            heartbeat_timeout=timedelta(seconds=max(2 * poll + 10, 15)),
            retry_policy=ADMISSION_RETRY,
            summary="wait for an execution slot",
        )

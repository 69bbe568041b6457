"""Admission to the tenant's concurrency limit: enqueue once, then poll (FIFO) until a slot
is free or the window ends, heartbeating the queue position so the Temporal UI shows it.

The slot is tied to the execution's row (persistence/admission.py), not to this process:
the activity holds nothing while it waits, and a cancel during the wait releases nothing.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from activities.phases.bookkeeping import stage_state
from activities.phases.context import Phase
from activities.runtime import maps_domain_errors
from domain.contracts import AdmissionRequest, AdmissionResult
from domain.errors import NotFound
from persistence.admission import Admission, AdmissionRepository
from workflows.activities import AdmissionActivities

FIRST_POLL_S = 0.25


class Admissions(Phase, AdmissionActivities):
    @activity.defn
    @maps_domain_errors
    async def admit(self, inp: AdmissionRequest) -> AdmissionResult:
        """Admitted, or still waiting (with the position) once `window_s` has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(inp.window_s, 0.0)
        pause = FIRST_POLL_S
        while True:
            outcome = await self._attempt(inp)
            if not outcome.admitted and outcome.position is None:
                raise NotFound(f"execution {inp.ref.execution_id} not found")
            if outcome.admitted or loop.time() >= deadline:
                recorded = outcome.admitted and inp.state is not None
                return AdmissionResult(
                    admitted=outcome.admitted, position=outcome.position, limit=outcome.limit,
                    state_recorded=recorded,
                )  # fmt: skip
            activity.heartbeat({"position": outcome.position, "limit": outcome.limit})
            await asyncio.sleep(min(pause, max(deadline - loop.time(), 0.0)))
            pause = min(pause * 2, max(inp.poll_max_s, FIRST_POLL_S))

    async def _attempt(self, inp: AdmissionRequest) -> Admission:
        async with self.unit() as uow:
            outcome = await AdmissionRepository(uow.session).try_admit(
                inp.ref.tenant_id, inp.ref.execution_id, self.deps.tenant_max_concurrent
            )
            if outcome.admitted and inp.state is not None:  # the run's first state
                await stage_state(self, uow, inp.state)
            await uow.commit()
            return outcome

"""State changes and workflow-level events: one short transaction each, or staged in the
transaction of the activity whose result the change follows (`stage_state`)."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio import activity

from activities.phases.context import Phase, event_id
from activities.runtime import maps_domain_errors
from domain.contracts import RecordEventInput, RecordStateInput
from domain.enums import FeatureState
from domain.events import EventType
from persistence.admission import AdmissionRepository
from persistence.uow import UnitOfWork
from workflows.activities import BookkeepingActivities

_FINAL_EVENTS = {
    FeatureState.COMPLETED: EventType.EXECUTION_COMPLETED,
    FeatureState.FAILED: EventType.EXECUTION_FAILED,
    FeatureState.CANCELLED: EventType.EXECUTION_CANCELLED,
}


class Bookkeeping(Phase, BookkeepingActivities):
    @activity.defn
    @maps_domain_errors
    async def record_state(self, inp: RecordStateInput) -> None:
        """Move the execution to a state and append its event, in one transaction."""
        async with self.unit() as uow:
            await stage_state(self, uow, inp)
            await uow.commit()

    @activity.defn
    @maps_domain_errors
    async def record_event(self, inp: RecordEventInput) -> None:
        async with self.unit() as uow:
            self.emit(
                uow,
                uuid.UUID(inp.ref.execution_id),
                inp.event_type,
                dict(inp.payload),
                event_id=inp.event_id,
            )
            await uow.commit()


async def stage_state(phase: Phase, uow: UnitOfWork, inp: RecordStateInput) -> None:
    """Move the execution to `inp.state` on `uow` and stage its events (the caller commits):
    the one place a state change is written, by `record_state` or by the activity whose
    result the change follows. Repeatable: a retry finds the state and the events stored."""
    eid = uuid.UUID(inp.ref.execution_id)
    fields: dict[str, Any] = {}
    if inp.progress is not None:
        fields["progress"] = inp.progress
    if inp.error is not None:
        fields["error"] = inp.error
    if inp.result is not None:
        fields["result"] = inp.result
    # one statement: the update returns the state it left (a retry finds it done)
    previous = await uow.executions.move_state(inp.ref.tenant_id, eid, inp.state, **fields)
    payload: dict[str, Any] = {"from": previous.label, "to": inp.state.label}
    if inp.reason:
        payload["reason"] = inp.reason
    if inp.error is not None:
        payload["error"] = inp.error.model_dump(mode="json")
    phase.emit(
        uow, eid, EventType.STATE_CHANGED, payload,
        event_id=inp.event_id, causation_id=inp.causation_id,
    )  # fmt: skip
    final = _FINAL_EVENTS.get(inp.state)
    if final is not None:
        body: dict[str, Any] = {}
        if inp.result is not None:
            body["result"] = inp.result.model_dump(mode="json")
        if inp.error is not None:
            body["error"] = inp.error.model_dump(mode="json")
        phase.emit(
            uow, eid, final, body,
            event_id=event_id(uuid.UUID(inp.event_id), "final"), causation_id=inp.event_id,
        )  # fmt: skip
        # the ending frees the execution's slot (tenant concurrency limit)
        await AdmissionRepository(uow.session).release(eid)
    for staged in inp.events:
        phase.emit(
            uow, eid, staged.event_type, dict(staged.payload),
            event_id=staged.event_id, causation_id=inp.event_id,
        )  # fmt: skip

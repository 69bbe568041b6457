"""/v1/executions/{id}/events: the execution's audit log, as pages and as Server-Sent Events.

The stream sends `id: <sequence>`, `event: <type>`, `data: <json>` frames, resumes after the
`Last-Event-ID` header (or `?after=`), wakes on Postgres NOTIFY through the process's one
shared listener, sends a heartbeat comment when idle, and ends after the terminal event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.problems import problem_responses, service_unavailable
from api.schemas.executions import EventOut, EventPage
from api.services import Services, Svc, TenantId, Uow
from domain.enums import FeatureState
from domain.errors import NotFound
from domain.events import EventType
from persistence.events import StoredEvent, read_after
from persistence.repositories.executions import FeatureExecutionRepository
from persistence.tables import FeatureExecutionRow

router = APIRouter(prefix="/v1/executions", tags=["events"])

TERMINAL_EVENTS = frozenset(
    {EventType.EXECUTION_COMPLETED, EventType.EXECUTION_FAILED, EventType.EXECUTION_CANCELLED}
)
_BATCH = 200
# one event of the stream (OpenAPI 3.1 `schema` of an event stream describes each event)
SSE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "Sequence number"},
        "event": {"type": "string", "description": "Event type"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/EventOut"},
        },
    },
}
MAX_EVENT_PAGE = 1000


async def _owned_execution(
    session: AsyncSession, tenant_id: uuid.UUID, execution_id: uuid.UUID
) -> uuid.UUID:
    row = await FeatureExecutionRepository(session).find(tenant_id, execution_id)
    if row is None:
        raise NotFound(f"feature execution {execution_id} not found")
    return row.id


@router.get(
    "/{execution_id}/events",
    response_model=EventPage,
    responses=problem_responses(401, 404, 422, 429),
    summary="Events after a sequence number, in order",
)
async def list_events(
    execution_id: uuid.UUID,
    tenant_id: TenantId,
    uow: Uow,
    after: Annotated[int, Query(ge=0, le=2**62, description="Sequence number to start after")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENT_PAGE)] = 100,
) -> EventPage:
    eid = await _owned_execution(uow.session, tenant_id, execution_id)
    events = await read_after(uow.session, eid, after, limit)
    return EventPage(
        items=[EventOut.of(e) for e in events],
        next_after=events[-1].sequence_number if events else after,
    )


def _frame(event: StoredEvent) -> str:
    data = json.dumps(EventOut.of(event).model_dump(mode="json"), separators=(",", ":"))
    return f"id: {event.sequence_number}\nevent: {event.event_type}\ndata: {data}\n\n"


async def _is_terminal(svc: Services, execution_id: uuid.UUID) -> bool:
    async with svc.deps.sessions() as session:
        state = await session.scalar(
            select(FeatureExecutionRow.state).where(FeatureExecutionRow.id == execution_id)
        )
    return state is not None and FeatureState(state).is_terminal


async def event_stream(svc: Services, execution_id: uuid.UUID, after: int) -> AsyncIterator[str]:
    """SSE frames of the execution's events after `after`, until the terminal event."""
    heartbeat = svc.deps.config.sse_heartbeat_seconds
    async with svc.notifier.subscribe(execution_id) as wake:
        yield ": stream open\n\n"
        while True:
            wake.clear()  # before the read: a NOTIFY landing during it wakes the next wait
            async with svc.deps.sessions() as session:
                events = await read_after(session, execution_id, after, _BATCH)
            for event in events:
                yield _frame(event)
                after = event.sequence_number
                if event.event_type in TERMINAL_EVENTS:
                    return
            if len(events) == _BATCH:
                continue
            if not events and await _is_terminal(svc, execution_id):
                return  # ended without a terminal event (should not happen): do not hang
            try:
                await asyncio.wait_for(wake.wait(), timeout=heartbeat)
            except TimeoutError:
                yield ": heartbeat\n\n"


def _resume_point(last_event_id: str | None, after: int | None) -> int:
    # the header's syntax (1-18 digits) is checked by its declared pattern
    if last_event_id is not None:
        return int(last_event_id)
    return after or 0


@router.get(
    "/{execution_id}/events/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-Sent Events: id = sequence number, event = type, data = JSON",
            "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        },
        **problem_responses(401, 404, 422, 429, 503),
    },
    summary="Stream events as Server-Sent Events",
)
async def stream_events(
    execution_id: uuid.UUID,
    tenant_id: TenantId,
    svc: Svc,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            pattern=r"^[0-9]{1,18}$",
            description="Resume after this sequence number (wins over `after`)",
        ),
    ] = None,
) -> StreamingResponse:
    async with svc.deps.sessions() as session:
        eid = await _owned_execution(session, tenant_id, execution_id)
    start = _resume_point(last_event_id, after)
    try:
        async with svc.notifier.subscribe(eid):
            pass  # connects the shared listener now, so failures are a 503, not a broken stream
    except Exception as exc:
        raise service_unavailable(
            f"cannot listen for events ({type(exc).__name__}); retry later"
        ) from None
    return StreamingResponse(
        event_stream(svc, eid, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

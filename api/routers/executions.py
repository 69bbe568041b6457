"""/v1/executions: start (idempotent), read, search, cancel and decide the plan of feature
executions, and read their steps, file changes and artifacts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse

from api.problems import problem_responses
from api.schemas.common import Page
from api.schemas.executions import (
    ArtifactOut,
    CancelBody,
    ExecutionCreate,
    ExecutionOut,
    FileChangeOut,
    PlanDecisionBody,
    PlanDecisionOut,
    StateLabel,
    StepOut,
)
from api.schemas.fields import IDEMPOTENCY_KEY_PATTERN, Timestamp
from api.schemas.text import NUL_FREE
from api.services import PageParams, Svc, TenantId, Uow
from domain.enums import FeatureState
from domain.errors import NotFound
from persistence.admission import AdmissionRepository
from persistence.artifacts.service import ArtifactService
from persistence.artifacts.store import BlobNotFound
from persistence.repositories.executions import FeatureSearchQuery

router = APIRouter(prefix="/v1/executions", tags=["executions"])

_AUTH = (401, 429)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExecutionOut,
    responses={
        200: {"model": ExecutionOut, "description": "The execution this key already names"},
        **problem_responses(*_AUTH, 404, 409, 413, 422, 503),
    },
    summary="Start a feature execution (idempotent per Idempotency-Key)",
)
async def create_execution(
    body: ExecutionCreate,
    tenant_id: TenantId,
    svc: Svc,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Names the execution (1-200 visible ASCII characters); a retry with "
            "the same key and body returns it",
        ),
    ] = None,
) -> JSONResponse:
    outcome, key = await svc.executions.create(tenant_id, body, idempotency_key)
    row = outcome.row
    return JSONResponse(
        ExecutionOut.of(row).model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED if outcome.created else status.HTTP_200_OK,
        headers={"Idempotency-Key": key, "Location": f"/v1/executions/{row.id}"},
    )


@router.get(
    "",
    response_model=Page[ExecutionOut],
    responses=problem_responses(*_AUTH, 422),
    summary="Search executions, newest first",
)
async def search_executions(
    tenant_id: TenantId,
    uow: Uow,
    page: PageParams,
    states: Annotated[list[StateLabel] | None, Query(description="Any of these states")] = None,
    repository_id: Annotated[uuid.UUID | None, Query()] = None,
    created_after: Annotated[Timestamp | None, Query(description="Created at or after")] = None,
    created_before: Annotated[Timestamp | None, Query(description="Created before")] = None,
    q: Annotated[
        str | None,
        Query(max_length=255, pattern=NUL_FREE, description="Text in title or description"),
    ] = None,
) -> Page[ExecutionOut]:
    query = FeatureSearchQuery(
        tenant_id=tenant_id,
        repository_id=repository_id,
        states=[FeatureState.from_label(s) for s in states or []],
        created_after=created_after,
        created_before=created_before,
        query=q or None,
        limit=page.limit,
        offset=page.offset,
    )
    found = await uow.executions.search(query)
    waiting = [r.id for r in found.items if r.state == FeatureState.PENDING]
    positions = await AdmissionRepository(uow.session).queue_positions(tenant_id, waiting)
    return Page(
        items=[ExecutionOut.of(r, positions.get(r.id)) for r in found.items],
        total=found.total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get(
    "/{execution_id}",
    response_model=ExecutionOut,
    responses=problem_responses(*_AUTH, 404),
    summary="Get an execution: state, progress, plan, result, error",
)
async def get_execution(execution_id: uuid.UUID, tenant_id: TenantId, uow: Uow) -> ExecutionOut:
    row = await uow.executions.get(tenant_id, execution_id)
    position = None
    if row.state == FeatureState.PENDING:
        positions = await AdmissionRepository(uow.session).queue_positions(tenant_id, [row.id])
        position = positions.get(row.id)
    return ExecutionOut.of(row, position)


@router.post(
    "/{execution_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ExecutionOut,
    responses=problem_responses(*_AUTH, 404, 409, 413, 422, 503),
    summary="Ask the execution to stop (it ends in state cancelled)",
)
async def cancel_execution(
    execution_id: uuid.UUID, tenant_id: TenantId, svc: Svc, body: CancelBody | None = None
) -> ExecutionOut:
    row = await svc.executions.cancel(tenant_id, execution_id, body.reason if body else None)
    return ExecutionOut.of(row)


async def _decide(
    svc: Svc,
    tenant_id: uuid.UUID,
    execution_id: uuid.UUID,
    approved: bool,
    body: PlanDecisionBody | None,
) -> PlanDecisionOut:
    row, result = await svc.executions.decide_plan(
        tenant_id,
        execution_id,
        approved,
        body.reason if body else None,
        body.by if body else None,
    )
    return PlanDecisionOut(
        execution_id=row.id, decision="approved" if result == "approved" else "rejected"
    )


@router.post(
    "/{execution_id}/plan/approve",
    response_model=PlanDecisionOut,
    responses=problem_responses(*_AUTH, 404, 409, 413, 422, 503),
    summary="Approve the plan of an execution waiting for approval",
)
async def approve_plan(
    execution_id: uuid.UUID, tenant_id: TenantId, svc: Svc, body: PlanDecisionBody | None = None
) -> PlanDecisionOut:
    return await _decide(svc, tenant_id, execution_id, True, body)


@router.post(
    "/{execution_id}/plan/reject",
    response_model=PlanDecisionOut,
    responses=problem_responses(*_AUTH, 404, 409, 413, 422, 503),
    summary="Reject the plan of an execution waiting for approval (it is cancelled)",
)
async def reject_plan(
    execution_id: uuid.UUID, tenant_id: TenantId, svc: Svc, body: PlanDecisionBody | None = None
) -> PlanDecisionOut:
    return await _decide(svc, tenant_id, execution_id, False, body)


@router.get(
    "/{execution_id}/steps",
    response_model=list[StepOut],
    responses=problem_responses(*_AUTH, 404),
    summary="The plan's steps and their outcome",
)
async def list_steps(execution_id: uuid.UUID, tenant_id: TenantId, uow: Uow) -> list[StepOut]:
    rows = await uow.steps.get_by_feature_id(tenant_id, execution_id)
    return [StepOut.of(r) for r in rows]


@router.get(
    "/{execution_id}/file-changes",
    response_model=list[FileChangeOut],
    responses=problem_responses(*_AUTH, 404),
    summary="Files the steps changed, with the patch inline or linked",
)
async def list_file_changes(
    execution_id: uuid.UUID, tenant_id: TenantId, uow: Uow
) -> list[FileChangeOut]:
    rows = await uow.file_changes.list_by_execution(tenant_id, execution_id)
    return [FileChangeOut.of(r) for r in rows]


@router.get(
    "/{execution_id}/artifacts",
    response_model=list[ArtifactOut],
    responses=problem_responses(*_AUTH, 404),
    summary="Artifacts of the execution (logs, reports, patches, plan)",
)
async def list_artifacts(
    execution_id: uuid.UUID, tenant_id: TenantId, svc: Svc, uow: Uow
) -> list[ArtifactOut]:
    artifacts = ArtifactService(uow.session, svc.deps.artifacts)
    await artifacts.require_execution(tenant_id, execution_id)
    rows = await artifacts.list_by_execution(tenant_id, execution_id)
    return [ArtifactOut.of(r) for r in rows]


@router.get(
    "/{execution_id}/artifacts/{artifact_id}/content",
    response_class=Response,
    responses={
        200: {
            "description": "The artifact's bytes, streamed",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        307: {"description": "Redirect to a short-lived presigned download URL"},
        **problem_responses(*_AUTH, 404),
    },
    summary="Download an artifact",
)
async def artifact_content(
    execution_id: uuid.UUID, artifact_id: uuid.UUID, tenant_id: TenantId, svc: Svc
) -> Response:
    eid, aid = execution_id, artifact_id
    async with svc.deps.sessions() as session:
        artifacts = ArtifactService(session, svc.deps.artifacts)
        row = await artifacts.get(tenant_id, aid)
        if row.feature_execution_id != eid:
            raise NotFound(f"artifact {artifact_id} not found")
        url = await artifacts.download_url(tenant_id, aid, svc.deps.config.presigned_url_ttl)
    if url is not None:
        return RedirectResponse(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    stream = svc.deps.artifacts.get_stream(row.storage_key)
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        first = b""
    except BlobNotFound:
        raise NotFound(f"the content of artifact {artifact_id} is gone from the store") from None

    async def body() -> object:
        yield first
        async for chunk in stream:
            yield chunk

    return StreamingResponse(
        body(),  # type: ignore[arg-type]
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{row.name}"',
            "X-Artifact-Content-Type": row.content_type,
            "Content-Length": str(row.size),
        },
    )

"""/v1/limits: the calling tenant's concurrency limit and how much of it is in use (read
only; operators change it with `builder tenants limit`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.problems import problem_responses
from api.services import Svc, TenantId, Uow
from persistence.admission import AdmissionRepository

router = APIRouter(prefix="/v1/limits", tags=["limits"])


class LimitsOut(BaseModel):
    """The tenant's per-tenant concurrency limit: executions beyond it wait in `pending`."""

    max_concurrent_executions: int | None = Field(
        ge=1, description="Executions the tenant may run at once; null: unlimited", examples=[3]
    )
    source: Literal["tenant", "default"] = Field(
        description="`tenant`: an operator's override for this tenant; `default`: the "
        "deployment's default (BUILDER_TENANT_MAX_CONCURRENT_EXECUTIONS)"
    )
    running: int = Field(ge=0, description="Executions holding a slot now")
    waiting: int = Field(ge=0, description="Executions waiting in `pending` for a slot")


@router.get(
    "",
    response_model=LimitsOut,
    responses=problem_responses(401, 429),
    summary="The tenant's concurrency limit and the executions running and waiting under it",
)
async def get_limits(tenant_id: TenantId, uow: Uow, svc: Svc) -> LimitsOut:
    default = svc.deps.config.tenant_max_concurrent_executions
    limit = await AdmissionRepository(uow.session).describe(tenant_id, default)
    return LimitsOut(
        max_concurrent_executions=limit.effective,
        source="tenant" if limit.has_override else "default",
        running=limit.running,
        waiting=limit.waiting,
    )

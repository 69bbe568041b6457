"""The per-app service objects routes use, built once by `create_app` and kept on app.state."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from api.auth import ApiKeyAuthenticator, Caller
from api.deps import ApiDeps
from api.event_notifier import EventNotifier
from api.execution_requests import ExecutionRequests
from api.problems import validation_problem
from api.workflow_gateway import WorkflowGateway
from domain.errors import FieldError


@dataclass
class Services:
    """Everything a route needs besides the request."""

    deps: ApiDeps
    auth: ApiKeyAuthenticator
    gateway: WorkflowGateway
    executions: ExecutionRequests
    notifier: EventNotifier


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def caller(request: Request) -> Caller:
    return await services_of(request).auth(request)


async def tenant(who: Annotated[Caller, Depends(caller)]) -> uuid.UUID:
    return who.tenant_id


MAX_OFFSET = 1_000_000


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(
    request: Request,
    limit: Annotated[int | None, Query(description="Page size (1..max_page_size)")] = None,
    offset: Annotated[int, Query(description="Items to skip")] = 0,
) -> Paging:
    config = services_of(request).deps.config
    size = config.default_page_size if limit is None else limit
    errors = []
    if size < 1 or size > config.max_page_size:
        errors.append(FieldError("limit", f"limit must be between 1 and {config.max_page_size}"))
    if offset < 0 or offset > MAX_OFFSET:
        errors.append(FieldError("offset", f"offset must be between 0 and {MAX_OFFSET}"))
    if errors:
        raise validation_problem(errors)
    return Paging(size, offset)


TenantId = Annotated[uuid.UUID, Depends(tenant)]
Svc = Annotated[Services, Depends(services_of)]
PageParams = Annotated[Paging, Depends(paging)]

"""The per-app service objects routes use, built once by `create_app` and kept on app.state."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
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
from persistence.uow import UnitOfWork


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
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            description="Page size (default 20)",
            # api/contract.py writes this deployment's max_page_size as the maximum
            json_schema_extra={"x-builder-max-page-size": True},
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")] = 0,
) -> Paging:
    config = services_of(request).deps.config
    size = config.default_page_size if limit is None else limit
    if size > config.max_page_size:
        raise validation_problem(
            [FieldError("limit", f"limit must be between 1 and {config.max_page_size}")]
        )
    return Paging(size, offset)


async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request for routes that read or write several things: one
    session, one transaction, rolled back unless the route commits."""
    async with UnitOfWork(services_of(request).deps.sessions) as uow:
        yield uow


TenantId = Annotated[uuid.UUID, Depends(tenant)]
Svc = Annotated[Services, Depends(services_of)]
PageParams = Annotated[Paging, Depends(paging)]
Uow = Annotated[UnitOfWork, Depends(unit_of_work)]

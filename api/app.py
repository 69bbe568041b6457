"""The FastAPI application factory: wires routes, auth, limits and problem handlers to deps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import ApiKeyAuthenticator
from api.body_limit import BodySizeLimit
from api.contract import install_contract, operation_id_of
from api.deps import ApiDeps
from api.event_notifier import EventNotifier
from api.execution_requests import ExecutionRequests
from api.problems import register_problem_handlers
from api.routers import events, executions, health, limits, repositories, webhooks
from api.services import Services
from api.workflow_gateway import WorkflowGateway


def build_services(deps: ApiDeps) -> Services:
    gateway = WorkflowGateway(
        deps.temporal,
        rpc_timeout=deps.config.temporal_rpc_timeout,
        wait_for_lock=deps.config.wait_for_lock,
        task_queue=deps.config.task_queue,
    )
    return Services(
        deps=deps,
        auth=ApiKeyAuthenticator(deps),
        gateway=gateway,
        executions=ExecutionRequests(deps, gateway),
        notifier=EventNotifier(deps.database_url),
    )


def create_app(deps: ApiDeps) -> FastAPI:
    """The API bound to `deps`. Nothing connects at start: Temporal may be down."""
    services = build_services(deps)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await services.notifier.close()

    app = FastAPI(
        title="builder",
        version="1",
        description=(
            "Turns feature requests against registered git repositories into pushed, built "
            "and tested feature branches. Authenticate with `Authorization: Bearer <api key>`. "
            "Errors are RFC 9457 problem documents (application/problem+json)."
        ),
        lifespan=lifespan,
        generate_unique_id_function=operation_id_of,
    )
    app.state.services = services
    register_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=deps.config.max_body_bytes)
    for module in (health, repositories, executions, events, webhooks, limits):
        app.include_router(module.router)
    install_contract(app, deps.config)
    return app

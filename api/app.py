"""The FastAPI application factory: wires routes, auth, limits and problem handlers to deps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.auth import ApiKeyAuthenticator
from api.body_limit import BodySizeLimit
from api.deps import ApiDeps
from api.event_notifier import EventNotifier
from api.execution_requests import ExecutionRequests
from api.problems import Problem, problem_responses, register_problem_handlers
from api.routers import events, executions, health, repositories, webhooks
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
    )
    app.state.services = services
    register_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=deps.config.max_body_bytes)
    for module in (health, repositories, executions, events, webhooks):
        app.include_router(module.router)
    _document_problem_schema(app)
    return app


def _document_problem_schema(app: FastAPI) -> None:
    """Add the Problem schema the problem responses reference to the OpenAPI components."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        defs = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in defs.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components["Problem"] = defs
        # every authenticated route says so, so clients and fuzzers send the key
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKey": {"type": "http", "scheme": "bearer"}
        }
        problem = problem_responses(422)[422]
        bad_request = problem_responses(400)[400]
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                if path not in ("/healthz", "/readyz"):
                    operation["security"] = [{"ApiKey": []}]
                responses = operation.setdefault("responses", {})
                # request validation answers problem+json, not FastAPI's default shape
                if "422" in responses or operation.get("parameters") or "requestBody" in operation:
                    responses["422"] = problem
                if "requestBody" in operation:
                    responses["400"] = bad_request  # a body that is not JSON at all
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

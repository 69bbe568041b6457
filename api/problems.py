"""RFC 9457 problem details: every error the API returns, and the one handler registrar.

Domain errors map to stable `type` URIs so clients can branch on them; validation errors
list one `{field, message}` per broken rule. Messages never carry the request body, so a
secret sent in a request cannot come back in an error.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    Conflict,
    DomainError,
    FieldError,
    InvalidTransition,
    NotFound,
    PolicyViolation,
    RepositoryAccessError,
    ValidationFailed,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://builder.dev/problems/"

log = logging.getLogger(__name__)


class ProblemFieldError(BaseModel):
    """One broken rule of a request."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="Stable URI naming the kind of problem")
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None


class ApiProblem(Exception):
    """An HTTP-level failure with its problem kind (auth, limits, unavailable services...)."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"}
    )


def service_unavailable(detail: str) -> ApiProblem:
    return ApiProblem(503, "service-unavailable", "Service unavailable", detail)


def conflict(detail: str) -> ApiProblem:
    return ApiProblem(409, "conflict", "Conflict", detail)


def validation_problem(errors: list[FieldError]) -> ApiProblem:
    return ApiProblem(
        422,
        "validation",
        "Validation failed",
        "; ".join(e.message for e in errors),
        errors=errors,
    )


def problem_response(
    status: int,
    kind: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body = Problem(
        type=PROBLEM_BASE + kind,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        errors=[ProblemFieldError(field=e.field, message=e.message) for e in errors]
        if errors is not None
        else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


# domain error class -> (status, problem kind, title); the first match in MRO order wins
_DOMAIN: dict[type[DomainError], tuple[int, str, str]] = {
    ValidationFailed: (422, "validation", "Validation failed"),
    NotFound: (404, "not-found", "Not found"),
    Conflict: (409, "conflict", "Conflict"),
    InvalidTransition: (409, "invalid-transition", "Invalid state transition"),
    PolicyViolation: (422, "policy-violation", "Policy violation"),
    RepositoryAccessError: (422, "repository-access", "Repository access failed"),
}

_STATUS_KINDS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation", "Validation failed"),
    429: ("rate-limited", "Too many requests"),
    503: ("service-unavailable", "Service unavailable"),
}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if part.isdigit():
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "body"


def request_errors(exc: RequestValidationError) -> list[FieldError]:
    """FastAPI's validation errors as field errors, without the offending input."""
    errors = []
    for err in exc.errors():
        loc = err.get("loc", ())
        # discriminated unions add the tag name to the location: keep it readable
        field = _field_of(loc)
        message = str(err.get("msg", "is invalid"))
        errors.append(FieldError(field, f"{field}: {message}"))
    return errors


def register_problem_handlers(app: FastAPI) -> None:
    """Map every error the API can raise to problem+json."""

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.kind,
            exc.title,
            exc.detail,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        for cls in type(exc).__mro__:
            if cls in _DOMAIN:
                status, kind, title = _DOMAIN[cls]
                break
        else:
            log.error("unmapped domain error %s: %s", type(exc).__name__, exc.message)
            status, kind, title = 500, "internal", "Internal error"
        errors = exc.errors if isinstance(exc, ValidationFailed) else None
        return problem_response(
            status, kind, title, exc.message, instance=request.url.path, errors=errors
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = request_errors(exc)
        return problem_response(
            422,
            "validation",
            "Validation failed",
            "; ".join(e.message for e in errors),
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind, title = _STATUS_KINDS.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route matches {request.method} {request.url.path}"
        return problem_response(
            exc.status_code,
            kind,
            title,
            detail,
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the type only: an arbitrary exception message may quote request data
        log.exception("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return problem_response(
            500,
            "internal",
            "Internal error",
            f"an unexpected {type(exc).__name__} occurred; see the server log",
            instance=request.url.path,
        )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting problem+json for the given statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        _kind, title = _STATUS_KINDS.get(status, ("http-error", "HTTP error"))
        entry: dict[str, Any] = {
            "description": title,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status == 429:
            entry["headers"] = {
                "Retry-After": {
                    "description": "Seconds until a request is allowed again",
                    "schema": {"type": "integer"},
                }
            }
        out[status] = entry
    return out

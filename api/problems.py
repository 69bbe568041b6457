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
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas.text import FIELD_RULES
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


# every problem kind the API answers with; `type` is PROBLEM_BASE + kind (docs/api.md)
PROBLEM_KINDS = (
    "validation",
    "policy-violation",
    "bad-request",
    "payload-too-large",
    "unsupported-media-type",
    "not-acceptable",
    "method-not-allowed",
    "unauthorized",
    "forbidden",
    "not-found",
    "conflict",
    "invalid-transition",
    "repository-access",
    "rate-limited",
    "service-unavailable",
    "not-ready",
    "internal",
    "http-error",
)


class Problem(BaseModel):
    """An RFC 9457 problem document. `detail` and `errors` name fields, never the values a
    request sent; `instance` is the request path."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "validation",
                    "title": "Validation failed",
                    "status": 422,
                    "detail": "description must be at least 10 characters",
                    "instance": "/v1/executions",
                    "errors": [
                        {
                            "field": "description",
                            "message": "description must be at least 10 characters",
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(
        description="Stable URI naming the kind of problem: "
        + ", ".join(PROBLEM_BASE + k for k in PROBLEM_KINDS)
    )
    title: str
    status: int
    detail: str
    instance: str | None = Field(default=None, description="The request path")
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="One entry per broken rule of a request (validation)"
    )


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


def _message(err: dict[str, Any]) -> str:
    """pydantic's message without anything taken from the input: parsing errors quote the
    offending character ("found `x` at 1") after a comma, so only the part before stays."""
    message = str(err.get("msg", "is invalid"))
    kind = str(err.get("type", ""))
    if kind.endswith(("_parsing", "_type")) or kind in ("json_invalid", "uuid_version"):
        message = message.split(",", 1)[0]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
    return message


def request_errors(exc: RequestValidationError) -> list[FieldError]:
    """FastAPI's validation errors as field errors that name the field and never repeat
    the input; our own rules (NUL text, property types) list their fields themselves."""
    errors: list[FieldError] = []
    for err in exc.errors():
        ctx = err.get("ctx") or {}
        if err.get("type") == FIELD_RULES and isinstance(ctx.get("errors"), list):
            base = _field_of(err.get("loc", ()))
            for name, message in ctx["errors"]:
                field = name if base == "body" or name.startswith(base) else f"{base}.{name}"
                errors.append(FieldError(field, message))
            continue
        # discriminated unions add the tag name to the location: keep it readable
        field = _field_of(err.get("loc", ()))
        if err.get("type") == "missing":
            errors.append(FieldError(field, f"{field} is required"))  # the seed's wording
        else:
            errors.append(FieldError(field, f"{field}: {_message(err)}"))
    return errors


def allowed_methods(app: Any, path: str, known: str = "") -> list[str]:
    """Every method the documented operations of `path` answer (GET implies HEAD), plus
    `known` (the Allow header of the route that refused): each route only knows its own."""
    import re

    methods = {m.strip().upper() for m in known.split(",") if m.strip()}
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {m.upper() for m in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


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
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no route matches this path"
        if exc.status_code == 405:
            # each route knows only its own method: list every method of the path
            methods = allowed_methods(request.app, request.url.path, headers.get("allow", ""))
            headers.pop("allow", None)
            headers["Allow"] = ", ".join(methods)
            detail = f"this path answers {', '.join(methods)}"
        return problem_response(
            exc.status_code, kind, title, detail, instance=request.url.path, headers=headers
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

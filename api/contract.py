"""The OpenAPI document as the contract: what FastAPI generates, finished so that it declares
exactly what this server accepts.

Applied once to the whole document (so every router, present and future, gets it):
- the Problem schema, problem+json for validation errors, and the bearer security scheme;
- the NUL rule on every string and key of request bodies built on `RequestModel`;
- this deployment's values where a field carries an `x-builder-*` marker: the remote URL
  pattern of its URL policy, the engines it has configured (and, with them, when `changes`
  is required), its maximum page size;
- each request body's examples repeated on its media type, where generators look first.

Operation ids are the route function names (`create_app` passes `operation_id_of`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.config import ApiConfig
from api.execution_requests import available_engines
from api.problems import Problem, problem_responses
from api.schemas.base import RequestModel
from api.schemas.fields import nul_free_json_components
from api.schemas.text import NUL_FREE
from domain.remote_urls import url_pattern

Schema = dict[str, Any]
PUBLIC_PATHS = ("/healthz", "/readyz")


def operation_id_of(route: APIRoute) -> str:
    """The route function's name: `create_execution`, not `create_execution_v1_...post`."""
    return route.name


def install_contract(app: FastAPI, config: ApiConfig) -> None:
    """Make `app.openapi()` return the finished document (built once, then cached)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        _add_problem(components)
        components.update(nul_free_json_components())
        schema["components"]["securitySchemes"] = {"ApiKey": {"type": "http", "scheme": "bearer"}}
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                _finish_operation(path, operation, components)
        _apply_deployment(schema, components, config)
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_problem(components: dict[str, Schema]) -> None:
    defs = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in defs.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components["Problem"] = defs


def _finish_operation(path: str, operation: Schema, components: dict[str, Schema]) -> None:
    if path not in PUBLIC_PATHS:
        operation["security"] = [{"ApiKey": []}]
    responses = operation.setdefault("responses", {})
    # request validation answers problem+json, not FastAPI's default shape
    if "422" in responses or operation.get("parameters") or "requestBody" in operation:
        responses["422"] = problem_responses(422)[422]
    body = operation.get("requestBody")
    if body is None:
        return
    responses["400"] = problem_responses(400)[400]  # a body that is not JSON at all
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        if _nul_guarded(schema):
            _declare_nul_rule(schema, components, set())
        examples = _examples_of(schema, components)
        if examples:
            media["examples"] = {f"example{i + 1}": {"value": e} for i, e in enumerate(examples)}


def _request_model_names() -> set[str]:
    names: set[str] = set()
    pending: list[type] = [RequestModel]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending += cls.__subclasses__()
    return names


def _nul_guarded(body_schema: Schema) -> bool:
    """Whether a request body is made only of RequestModel types (they refuse NUL)."""
    refs: list[str] = []
    branches = body_schema.get("oneOf") or body_schema.get("anyOf") or [body_schema]
    for branch in branches:
        ref = branch.get("$ref")
        if not isinstance(ref, str):
            return False
        refs.append(ref.rsplit("/", 1)[1].removesuffix("-Input"))
    return bool(refs) and set(refs) <= _request_model_names()


def _resolve(node: Schema, components: dict[str, Schema]) -> tuple[str | None, Schema]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        return name, components.get(name, {})
    return None, node


def _declare_nul_rule(node: Any, components: dict[str, Schema], seen: set[str]) -> None:
    """Add the NUL rule to every string and object key under `node` (following refs)."""
    if not isinstance(node, dict):
        return
    name, target = _resolve(node, components)
    if name is not None:
        if name in seen or name.startswith("NulFreeJson"):
            return
        seen.add(name)
        _declare_nul_rule(target, components, seen)
        return
    kind = node.get("type")
    if kind == "string" and not ({"pattern", "format", "enum", "const"} & node.keys()):
        node["pattern"] = NUL_FREE
    if kind == "object" and "additionalProperties" in node:
        node.setdefault("propertyNames", {"pattern": NUL_FREE})
    for key in ("properties", "$defs"):
        for child in (node.get(key) or {}).values():
            _declare_nul_rule(child, components, seen)
    for key in ("items", "additionalProperties", "not"):
        _declare_nul_rule(node.get(key), components, seen)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for child in node.get(key) or []:
            _declare_nul_rule(child, components, seen)


def _examples_of(node: Schema, components: dict[str, Schema]) -> list[Any]:
    _name, target = _resolve(node, components)
    if target.get("examples"):
        return list(target["examples"])
    out: list[Any] = []
    for key in ("oneOf", "anyOf"):
        for branch in target.get(key) or []:
            out += _examples_of(branch, components)
    return out


def _walk(node: Any, visit: Callable[[Schema], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for child in list(node.values()):
            _walk(child, visit)
    elif isinstance(node, list):
        for child in node:
            _walk(child, visit)


def _apply_deployment(schema: Schema, components: dict[str, Schema], config: ApiConfig) -> None:
    engines = available_engines(config)

    def visit(node: Schema) -> None:
        if node.pop("x-builder-remote-url", False):
            node["pattern"] = url_pattern(config.remotes)
        if node.pop("x-builder-engines", False):
            node["enum"] = engines
        if node.pop("x-builder-max-page-size", False):
            if node.get("type") == "integer":
                node["maximum"] = config.max_page_size
            for branch in node.get("anyOf", []):
                if branch.get("type") == "integer":
                    branch["maximum"] = config.max_page_size

    _walk(schema, visit)
    create = components.get("ExecutionCreate")
    if create is not None:
        # the spec engine (the default) needs at least one declared change
        spec_needs_changes = {"required": ["changes"], "properties": {"changes": {"minItems": 1}}}
        if engines == ["spec"]:
            create.setdefault("required", []).append("changes")
            create["properties"]["changes"]["minItems"] = 1
        else:
            create["if"] = {"properties": {"engine": {"const": "spec"}}}
            create["then"] = spec_needs_changes

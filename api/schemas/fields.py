"""Field types request models share, each validated exactly as its OpenAPI schema says.

Rules that depend on the deployment (which URLs, engines and page sizes it accepts) carry an
`x-builder-*` marker; api/contract.py replaces it with this deployment's values.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from api.schemas.text import NUL_FREE, field_rules_error
from domain.branches import BRANCH_NAME_PATTERN, MAX_BRANCH, branch_name_problem
from domain.properties import COMMAND_PROPERTIES, FLAG_PROPERTIES, property_errors

MAX_URL = 2048
NUL_FREE_JSON = "#/components/schemas/NulFreeJson"
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,200}$"  # 1-200 visible ASCII characters


def _branch(value: str) -> str:
    problem = branch_name_problem(value)
    if problem is not None:
        raise ValueError(f"a branch name {problem}")
    return value


BranchName = Annotated[
    str,
    AfterValidator(_branch),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_BRANCH,
            "pattern": BRANCH_NAME_PATTERN,
            "description": "A git branch name (git check-ref-format --branch rules)",
        }
    ),
]

REMOTE_URL_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_URL,
    "x-builder-remote-url": True,
    "description": "https://host/path, ssh://[user@]host/path or user@host:path "
    "(local paths where the deployment allows them); never with credentials",
}

# None or empty: the seed's "url is required" (domain.validation)
RemoteUrl = Annotated[str | None, Field(max_length=MAX_URL), WithJsonSchema(REMOTE_URL_SCHEMA)]


def _nullable_text() -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "pattern": NUL_FREE}, {"type": "null"}]}


def _repository_properties(value: dict[str, Any]) -> dict[str, Any]:
    errors = [(e.field, e.message) for e in property_errors(value)] + too_deep(value)
    if errors:
        raise field_rules_error(errors)
    return value


_PROPERTIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Free-form metadata; the pipeline reads the commands (text, or null for "
    "no such phase) and the network switches",
    "properties": {
        **{name: _nullable_text() for name in COMMAND_PROPERTIES},
        **{name: {"type": "boolean"} for name in FLAG_PROPERTIES},
    },
    "propertyNames": {"pattern": NUL_FREE},
    "additionalProperties": {"$ref": NUL_FREE_JSON},
}

RepositoryProperties = Annotated[
    dict[str, Any], AfterValidator(_repository_properties), WithJsonSchema(_PROPERTIES_SCHEMA)
]

FreeProperties = Annotated[
    dict[str, Any],
    AfterValidator(lambda value: _free_properties(value)),
    WithJsonSchema(
        {
            "type": "object",
            "description": "Free-form metadata kept with the execution",
            "propertyNames": {"pattern": NUL_FREE},
            "additionalProperties": {"$ref": NUL_FREE_JSON},
        }
    ),
]

MAX_JSON_DEPTH = 8  # arrays and objects nested inside one free-form property value


def nul_free_json_components(depth: int = MAX_JSON_DEPTH) -> dict[str, dict[str, Any]]:
    """`NulFreeJson`: any JSON value whose strings and keys hold no NUL, with at most
    `depth` levels of arrays/objects. Unrolled level by level (NulFreeJson0 holds scalars
    only) because client generators cannot follow a recursive union."""
    scalars: list[dict[str, Any]] = [
        {"type": "string", "pattern": NUL_FREE},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
    out: dict[str, dict[str, Any]] = {"NulFreeJson0": {"anyOf": scalars}}
    for level in range(1, depth + 1):
        below = {"$ref": f"#/components/schemas/NulFreeJson{level - 1}"}
        name = "NulFreeJson" if level == depth else f"NulFreeJson{level}"
        out[name] = {
            "description": f"JSON without NUL characters, at most {level} levels deep",
            "anyOf": [
                *scalars,
                {"type": "array", "items": below},
                {"type": "object", "propertyNames": {"pattern": NUL_FREE},
                 "additionalProperties": below},
            ],
        }  # fmt: skip
    return out


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def too_deep(properties: dict[str, Any], prefix: str = "properties") -> list[tuple[str, str]]:
    """(field, message) for each property value nested deeper than MAX_JSON_DEPTH."""
    return [
        (f"{prefix}.{key}", f"{prefix}.{key} is nested deeper than {MAX_JSON_DEPTH} levels")
        for key, value in properties.items()
        if _depth(value) > MAX_JSON_DEPTH
    ]


def _free_properties(value: dict[str, Any]) -> dict[str, Any]:
    errors = too_deep(value)
    if errors:
        raise field_rules_error(errors)
    return value


_RFC3339 = re.compile(
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _rfc3339(value: Any) -> datetime:
    """An RFC 3339 date-time with its offset; numbers (unix times) and naive times refused."""
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2024-05-01T12:00:00Z")
    date, minutes, seconds, fraction, offset = match.groups()
    seconds = "59" if seconds == "60" else seconds  # a leap second: the second before it
    zone = "+00:00" if offset in ("Z", "z") else offset
    try:
        return datetime.fromisoformat(f"{date}T{minutes}:{seconds}{fraction or ''}{zone}")
    except ValueError:
        raise ValueError("must be a real RFC 3339 date-time (month, day, hour in range)") from None


Timestamp = Annotated[
    datetime,
    BeforeValidator(_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _json_integer(value: Any) -> Any:
    """An integer as JSON Schema means it: 3 and 3.0, never true, "3" or 3.5."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be an integer")
        return int(value)
    return value


JsonInteger = Annotated[int, BeforeValidator(_json_integer)]

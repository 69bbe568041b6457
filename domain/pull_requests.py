"""Whether and how an execution's branch becomes a pull request: mode, labels, people.

A repository property `pull_request` sets the default; the execution's own
`properties.pull_request` overrides it key by key. Either is a mode string
(`"none"`, `"draft"`, `"ready"`) or an object `{mode, labels, reviewers, assignees}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.errors import FieldError, ValidationFailed

PULL_REQUEST_PROPERTY = "pull_request"
MAX_PEOPLE = 20
MAX_LABELS = 20
MAX_LABEL_LENGTH = 100
MAX_NAME_LENGTH = 255
_KEYS = ("mode", "labels", "reviewers", "assignees")


class PullRequestMode(StrEnum):
    """What delivery does after the push."""

    NONE = "none"
    DRAFT = "draft"
    READY = "ready"


class PullRequestSettings(BaseModel):
    """The pull request an execution asks for (value object, sandbox-safe)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: PullRequestMode = PullRequestMode.NONE
    labels: tuple[str, ...] = Field(default=())
    reviewers: tuple[str, ...] = Field(default=())
    assignees: tuple[str, ...] = Field(default=())

    @property
    def wanted(self) -> bool:
        return self.mode != PullRequestMode.NONE

    @property
    def draft(self) -> bool:
        return self.mode == PullRequestMode.DRAFT


def _as_mapping(value: Any, field: str, errors: list[FieldError]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"mode": value}
    if isinstance(value, Mapping):
        unknown = sorted(str(k) for k in value if k not in _KEYS)
        if unknown:
            errors.append(
                FieldError(
                    field,
                    f"{field} has unknown keys {', '.join(unknown)}; allowed: {', '.join(_KEYS)}",
                )
            )
        return {k: v for k, v in value.items() if k in _KEYS}
    errors.append(FieldError(field, f"{field} must be a mode (none, draft, ready) or an object"))
    return {}


def _names(
    value: Any, field: str, limit: int, length: int, errors: list[FieldError]
) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors.append(FieldError(field, f"{field} must be a list of strings"))
        return ()
    # counted and measured as sent (the OpenAPI document states the same bounds)
    if len(value) > limit:
        errors.append(FieldError(field, f"{field} may hold at most {limit} entries"))
    names = tuple(dict.fromkeys(v.strip() for v in value if v.strip()))
    for name in value:
        if len(name) > length:
            errors.append(FieldError(field, f"{field} entries must be {length} characters or less"))
            break
        # GitLab takes labels comma-separated and no forge allows control characters
        if any(ord(c) < 32 for c in name) or (field.endswith("labels") and "," in name):
            errors.append(
                FieldError(field, f"{field} entries must not contain commas or control characters")
            )
            break
    return names


def _parse(value: Any, field: str, errors: list[FieldError]) -> dict[str, Any]:
    raw = _as_mapping(value, field, errors)
    out: dict[str, Any] = {}
    if "mode" in raw:
        try:
            out["mode"] = PullRequestMode(str(raw["mode"]).lower())
        except ValueError:
            errors.append(FieldError(f"{field}.mode", f"{field}.mode must be none, draft or ready"))
    if "labels" in raw:
        out["labels"] = _names(
            raw["labels"], f"{field}.labels", MAX_LABELS, MAX_LABEL_LENGTH, errors
        )
    for key in ("reviewers", "assignees"):
        if key in raw:
            out[key] = _names(raw[key], f"{field}.{key}", MAX_PEOPLE, MAX_NAME_LENGTH, errors)
    return out


def pull_request_errors(value: Any, field: str = "properties.pull_request") -> list[FieldError]:
    """The broken rules of one `pull_request` property value (empty when usable)."""
    errors: list[FieldError] = []
    parsed = _parse(value, field, errors)
    # at the edge the mode is spelt as documented (stored values are read leniently)
    raw = value.get("mode") if isinstance(value, Mapping) else value
    if "mode" in parsed and raw != parsed["mode"].value:
        errors.append(FieldError(f"{field}.mode", f"{field}.mode must be none, draft or ready"))
    return errors


def resolve_pull_request_settings(
    repository_properties: Mapping[str, Any] | None,
    execution_properties: Mapping[str, Any] | None,
) -> PullRequestSettings:
    """The repository's `pull_request` default overridden key by key by the execution's.

    Raises ValidationFailed naming every broken rule.
    """
    errors: list[FieldError] = []
    base = _parse(
        (repository_properties or {}).get(PULL_REQUEST_PROPERTY),
        "repository.properties.pull_request",
        errors,
    )
    override = _parse(
        (execution_properties or {}).get(PULL_REQUEST_PROPERTY), "properties.pull_request", errors
    )
    if errors:
        raise ValidationFailed(errors)
    return PullRequestSettings(**{**base, **override})

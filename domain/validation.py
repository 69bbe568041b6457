"""The seed's validation rules. Each function collects every broken rule, then raises once."""

from __future__ import annotations

from urllib.parse import urlsplit

from domain.errors import FieldError, ValidationFailed
from domain.paths import glob_problem
from domain.values import MAX_APPROVAL_WAIT_MINUTES, FeatureConstraints

MAX_NAME = 255
MIN_DESCRIPTION = 10


def _raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationFailed(errors)


def _url_is_valid(url: str) -> bool:
    if any(c.isspace() for c in url) or "\x00" in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme:
        return True
    # scp-like "user@host:path" and plain local paths are valid git URLs
    return ":" in url or url.startswith(("/", "."))


def repository_errors(tenant_id: str | None, name: str | None, url: str | None) -> list[FieldError]:
    errors: list[FieldError] = []
    if not tenant_id:
        errors.append(FieldError("tenant_id", "tenant_id is required"))
    if not name:
        errors.append(FieldError("name", "name is required"))
    elif len(name) > MAX_NAME:
        errors.append(FieldError("name", "name must be 255 characters or less"))
    if not url:
        errors.append(FieldError("url", "url is required"))
    elif not _url_is_valid(url):
        errors.append(FieldError("url", "url must be valid"))
    return errors


def validate_repository(tenant_id: str | None, name: str | None, url: str | None) -> None:
    """Seed rule set for a Repository."""
    _raise_if(repository_errors(tenant_id, name, url))


def feature_execution_errors(
    tenant_id: str | None,
    repository_id: str | None,
    title: str | None,
    description: str | None,
    target_branch: str | None,
) -> list[FieldError]:
    errors: list[FieldError] = []
    if not tenant_id:
        errors.append(FieldError("tenant_id", "tenant_id is required"))
    if not repository_id:
        errors.append(FieldError("repository_id", "repository_id is required"))
    if not title:
        errors.append(FieldError("title", "title is required"))
    elif len(title) > MAX_NAME:
        errors.append(FieldError("title", "title must be 255 characters or less"))
    if not description:
        errors.append(FieldError("description", "description is required"))
    elif len(description) < MIN_DESCRIPTION:
        errors.append(FieldError("description", "description must be at least 10 characters"))
    if not target_branch:
        errors.append(FieldError("target_branch", "target_branch is required"))
    return errors


def validate_feature_execution(
    tenant_id: str | None,
    repository_id: str | None,
    title: str | None,
    description: str | None,
    target_branch: str | None,
) -> None:
    """Seed rule set for a FeatureExecution."""
    _raise_if(feature_execution_errors(tenant_id, repository_id, title, description, target_branch))


def constraints_errors(c: FeatureConstraints) -> list[FieldError]:
    errors: list[FieldError] = []
    if c.max_steps < 0 or c.max_steps > 50:
        errors.append(FieldError("constraints.max_steps", "max_steps must be between 0 and 50"))
    if c.timeout_minutes < 0 or c.timeout_minutes > 120:
        errors.append(
            FieldError("constraints.timeout_minutes", "timeout_minutes must be between 0 and 120")
        )
    for name in ("allowed_paths", "forbidden_paths"):
        for index, pattern in enumerate(getattr(c, name)):
            problem = glob_problem(pattern)
            if problem is not None:
                errors.append(FieldError(f"constraints.{name}[{index}]", problem))
    if not 0 <= c.plan_approval_timeout_minutes <= MAX_APPROVAL_WAIT_MINUTES:
        errors.append(
            FieldError(
                "constraints.plan_approval_timeout_minutes",
                f"plan_approval_timeout_minutes must be between 0 and {MAX_APPROVAL_WAIT_MINUTES}",
            )
        )
    return errors


def validate_constraints(c: FeatureConstraints) -> None:
    """Seed rule set for FeatureConstraints."""
    _raise_if(constraints_errors(c))

"""Every seed validation rule, broken one at a time, with the seed's message."""

from __future__ import annotations

import pytest

from domain.enums import ErrorCode
from domain.errors import ValidationFailed
from domain.validation import (
    validate_constraints,
    validate_feature_execution,
    validate_repository,
)
from domain.values import FeatureConstraints

TENANT = "6c27ddd2-d5f8-41fa-a607-93de9611d290"  # fixed: it appears in test ids
REPO = "0e2f4a3b-7c1d-4e5f-8a9b-1c2d3e4f5a6b"
URL = "https://git.example.com/acme/app.git"


def _messages(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[tuple[str, str]]:
    return [(e.field, e.message) for e in exc.value.errors]


# -- repository ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tenant", "name", "url", "field", "message"),
    [
        ("", "app", URL, "tenant_id", "tenant_id is required"),
        (None, "app", URL, "tenant_id", "tenant_id is required"),
        (TENANT, "", URL, "name", "name is required"),
        (TENANT, "n" * 256, URL, "name", "name must be 255 characters or less"),
        (TENANT, "app", "", "url", "url is required"),
        (TENANT, "app", "http://exa mple.com/repo", "url", "url must be valid"),
        (TENANT, "app", "repo\x00.git", "url", "url must be valid"),
        (TENANT, "app", "http://[::1/repo", "url", "url must be valid"),
        (TENANT, "app", "just-a-word", "url", "url must be valid"),
    ],
)
def test_repository_rule_broken_alone_gives_its_seed_message(
    tenant: str | None, name: str, url: str, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as failed:
        validate_repository(tenant, name, url)
    assert _messages(failed) == [(field, message)]
    assert str(failed.value) == message
    assert failed.value.code is ErrorCode.INVALID_INPUT


@pytest.mark.parametrize(
    "url",
    [URL, "git@github.com:acme/app.git", "ssh://git@host:22/a.git", "/srv/git/app.git", "./rel"],
)
def test_repository_accepts_every_git_url_form(url: str) -> None:
    validate_repository(TENANT, "n" * 255, url)


def test_repository_reports_every_broken_rule_at_once() -> None:
    with pytest.raises(ValidationFailed) as failed:
        validate_repository("", "", "")
    assert _messages(failed) == [
        ("tenant_id", "tenant_id is required"),
        ("name", "name is required"),
        ("url", "url is required"),
    ]
    assert str(failed.value) == "tenant_id is required; name is required; url is required"


# -- feature execution --------------------------------------------------------------------

VALID = {
    "tenant_id": TENANT,
    "repository_id": REPO,
    "title": "Add health endpoint",
    "description": "Expose GET /health",
    "target_branch": "main",
}


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"tenant_id": ""}, "tenant_id", "tenant_id is required"),
        ({"repository_id": ""}, "repository_id", "repository_id is required"),
        ({"repository_id": None}, "repository_id", "repository_id is required"),
        ({"title": ""}, "title", "title is required"),
        ({"title": "t" * 256}, "title", "title must be 255 characters or less"),
        ({"description": ""}, "description", "description is required"),
        ({"description": "123456789"}, "description", "description must be at least 10 characters"),
        ({"target_branch": ""}, "target_branch", "target_branch is required"),
    ],
)
def test_feature_execution_rule_broken_alone_gives_its_seed_message(
    override: dict[str, str | None], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as failed:
        validate_feature_execution(**{**VALID, **override})  # type: ignore[arg-type]
    assert _messages(failed) == [(field, message)]


def test_feature_execution_boundaries_are_valid() -> None:
    validate_feature_execution(**{**VALID, "title": "t" * 255, "description": "0123456789"})


# -- constraints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraints", "field", "message"),
    [
        (
            FeatureConstraints(max_steps=-1),
            "constraints.max_steps",
            "max_steps must be between 0 and 50",
        ),
        (
            FeatureConstraints(max_steps=51),
            "constraints.max_steps",
            "max_steps must be between 0 and 50",
        ),
        (
            FeatureConstraints(timeout_minutes=-1),
            "constraints.timeout_minutes",
            "timeout_minutes must be between 0 and 120",
        ),
        (
            FeatureConstraints(timeout_minutes=121),
            "constraints.timeout_minutes",
            "timeout_minutes must be between 0 and 120",
        ),
    ],
)
def test_constraint_rule_broken_alone_gives_its_seed_message(
    constraints: FeatureConstraints, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as failed:
        validate_constraints(constraints)
    assert _messages(failed) == [(field, message)]


def test_constraint_boundaries_are_valid() -> None:
    validate_constraints(FeatureConstraints(max_steps=0, timeout_minutes=0))
    validate_constraints(FeatureConstraints(max_steps=50, timeout_minutes=120))

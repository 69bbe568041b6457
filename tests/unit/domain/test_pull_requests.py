"""Pull request settings: a repository default overridden key by key by the execution."""

from __future__ import annotations

import pytest

from domain.errors import ValidationFailed
from domain.pull_requests import (
    PullRequestMode,
    pull_request_errors,
    resolve_pull_request_settings,
)


def test_no_setting_means_no_pull_request() -> None:
    settings = resolve_pull_request_settings({}, {})
    assert settings.mode == PullRequestMode.NONE and not settings.wanted


def test_repository_default_is_overridden_key_by_key() -> None:
    settings = resolve_pull_request_settings(
        {"pull_request": {"mode": "ready", "labels": ["builder"], "reviewers": ["alice"]}},
        {"pull_request": {"mode": "draft", "reviewers": ["bob", "bob", " "]}},
    )
    assert settings.mode == PullRequestMode.DRAFT and settings.draft
    assert settings.labels == ("builder",) and settings.reviewers == ("bob",)


def test_a_mode_string_is_enough() -> None:
    assert (
        resolve_pull_request_settings({"pull_request": "READY"}, None).mode == PullRequestMode.READY
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sometimes", "must be none, draft or ready"),
        (42, "must be a mode"),
        ({"mode": "draft", "color": "red"}, "unknown keys color"),
        ({"labels": "builder"}, "must be a list of strings"),
        ({"labels": ["a,b"]}, "must not contain commas"),
        ({"reviewers": [f"u{i}" for i in range(21)]}, "at most 20"),
        ({"assignees": ["x" * 300]}, "255 characters or less"),
    ],
)
def test_bad_settings_name_the_broken_rule(value: object, message: str) -> None:
    errors = pull_request_errors(value)
    assert errors and message in errors[0].message
    with pytest.raises(ValidationFailed):
        resolve_pull_request_settings({}, {"pull_request": value})


def test_the_edge_takes_the_documented_spelling_and_bounds_as_sent() -> None:
    # the OpenAPI enum is lowercase and maxItems counts what was sent: so does the check
    assert pull_request_errors("READY") and pull_request_errors({"mode": "Draft"})
    assert pull_request_errors({"labels": [""] * 21})
    assert pull_request_errors({"mode": "ready", "labels": ["builder"]}) == []

"""Allowed and forbidden paths are gitignore patterns: what they match is what git means."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.paths import PATH_RULE_PATTERN, glob_problem, matches_glob, path_violation
from domain.validation import constraints_errors
from domain.values import FeatureConstraints


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("*.pem", "config/key.pem"),  # no slash: any depth
        (".env", "x/.env"),
        (".env", ".env"),
        ("secrets/", "secrets/prod/key.txt"),  # a directory covers what is below it
        ("build", "build/out/a.o"),
        ("docs/*.md", "docs/a.md"),
        ("docs/**/*.md", "docs/a/b/c.md"),
        ("**/test_*.py", "pkg/tests/test_x.py"),
        ("/README.md", "README.md"),
    ],
)
def test_a_pattern_matches_what_git_means(pattern: str, path: str) -> None:
    assert matches_glob(path, pattern)


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("docs/*.md", "docs/a/b.md"),  # `*` never crosses a slash
        ("/README.md", "pkg/README.md"),  # a leading slash anchors at the root
        ("*.pem", "config/key.pem.txt"),
        ("src/app", "lib/src/app/x.py"),  # a slash inside anchors at the root
    ],
)
def test_a_pattern_does_not_match_what_git_would_not(pattern: str, path: str) -> None:
    assert not matches_glob(path, pattern)


def test_a_forbidden_secret_deeper_in_the_tree_cannot_be_edited() -> None:
    assert path_violation("config/prod/key.pem", [], ["*.pem"]) == (
        "path 'config/prod/key.pem' matches forbidden pattern '*.pem'"
    )
    assert path_violation("services/api/.env", [], [".env"]) is not None
    assert path_violation("services/api/app.py", [], [".env", "*.pem"]) is None


def test_a_negation_or_empty_pattern_is_refused_at_the_edge() -> None:
    assert glob_problem("!keep.txt") is not None
    assert glob_problem("  ") is not None
    assert glob_problem("docs\\") is not None  # git refuses a trailing backslash
    errors = constraints_errors(
        FeatureConstraints(forbidden_paths=["*.pem", "!x"], allowed_paths=["src/"])
    )
    assert [e.field for e in errors] == ["constraints.forbidden_paths[1]"]
    assert "!x" not in errors[0].message  # problem details never echo request values


@given(st.from_regex(PATH_RULE_PATTERN))
def test_every_pattern_the_api_declares_is_accepted(pattern: str) -> None:
    # the OpenAPI document states PATH_RULE_PATTERN: whatever matches it must be a rule
    assert glob_problem(pattern) is None


@given(st.text())
def test_the_declared_pattern_is_exactly_the_rule(text: str) -> None:
    assert (glob_problem(text) is None) == bool(re.fullmatch(PATH_RULE_PATTERN, text))

"""Branch names a request may name: git's rules, and the OpenAPI pattern saying the same."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.branches import BRANCH_NAME_PATTERN, branch_name_problem

PATTERN = re.compile(BRANCH_NAME_PATTERN)
GOOD = ["main", "release/1.2.3", "feature/JIRA-12_x", "ü-umlaut", "a.b", "@x", "v1.0-rc.1"]
BAD = [
    "", "bad..branch", "-x", "/x", "x/", "x.", "a//b", "a@{1", "@", "HEAD", "a b", "a~1",
    "a^", "a:b", "a?", "a*", "a[b", "a\\b", ".hidden", "x/.y", "x.lock", "x.lock/y",
    "tab\there", "nul\x00", "x" * 256, "new\nline", "del\x7f",
]  # fmt: skip


@pytest.mark.parametrize("name", GOOD)
def test_ordinary_branch_names_are_accepted(name: str) -> None:
    assert branch_name_problem(name) is None
    assert PATTERN.fullmatch(name) or PATTERN.match(name)


@pytest.mark.parametrize("name", BAD)
def test_names_git_refuses_are_refused_with_a_reason(name: str) -> None:
    assert branch_name_problem(name)
    assert not _pattern_accepts(name)


def _pattern_accepts(name: str) -> bool:
    # JSON Schema patterns are ECMA-262: `$` never matches before a trailing newline
    match = PATTERN.search(name)
    return match is not None and match.end() == len(name)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab.-/@{}~^:?*[\\ \x00\n\u2028HEADlock"), max_size=12))
def test_the_schema_pattern_and_the_rule_agree(name: str) -> None:
    assert (branch_name_problem(name) is None) == _pattern_accepts(name)

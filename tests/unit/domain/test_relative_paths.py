"""Repository-relative paths of declared changes: the rule and its OpenAPI pattern agree."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.paths import RELATIVE_PATH_PATTERN, relative_path_problem

PATTERN = re.compile(RELATIVE_PATH_PATTERN)


def _accepts(path: str) -> bool:
    match = PATTERN.search(path)
    return match is not None and match.end() == len(path)


@pytest.mark.parametrize("path", ["docs/hello.md", "a", ".github/x.yml", "a.git/b", "ü/x"])
def test_ordinary_paths_are_accepted(path: str) -> None:
    assert relative_path_problem(path) is None and _accepts(path)


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "\\x", "C:x", "../x", "a/../b", "a//b", "a/", "./a", ".git/config",
     "a/.GIT/b", " a", "a ", "a\x00", "a\\..\\b", "x\u3000"],
)  # fmt: skip
def test_escaping_or_unnormalised_paths_are_refused(path: str) -> None:
    assert relative_path_problem(path) is not None and not _accepts(path)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab./\\:gitGIT \t\x00\x1c\u2028\ufeff"), max_size=10))
def test_the_schema_pattern_and_the_rule_agree(path: str) -> None:
    assert (relative_path_problem(path) is None) == _accepts(path)

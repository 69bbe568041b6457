"""Parsing model edit responses and applying SEARCH/REPLACE blocks tier by tier."""

from __future__ import annotations

import pytest

from activities.codegen.llm.edit_format import (
    DeleteFile,
    SearchReplace,
    WholeFile,
    parse_edit_response,
)
from activities.codegen.llm.matching import MatchProblem, apply_search_replace


def apply(content: str, search: str, replace: str, threshold: float = 0.85):  # type: ignore[no-untyped-def]
    return apply_search_replace(content, search, replace, threshold=threshold, label="block 1")


def test_response_with_blocks_whole_files_and_deletes_is_parsed() -> None:
    text = (
        "I'll change two files.\n\n**src/a.py**\n```python\n<<<<<<< SEARCH\nx = 1\n=======\n"
        "x = 2\n>>>>>>> REPLACE\n<<<<<<< SEARCH\ny = 1\n=======\ny = 2\n>>>>>>> REPLACE\n```\n\n"
        "File: docs/new.md\n```markdown\n# Title\n```\n\nDELETE old/thing.py\n"
        "```\nsrc/b.py\n<<<<<<< SEARCH\nz\n=======\nw\n>>>>>>> REPLACE\n```\n"
    )
    parsed = parse_edit_response(text)
    assert parsed.problems == []
    assert parsed.blocks == [
        SearchReplace(path="src/a.py", search="x = 1\n", replace="x = 2\n", number=1),
        SearchReplace(path="src/a.py", search="y = 1\n", replace="y = 2\n", number=2),
        WholeFile(path="docs/new.md", content="# Title\n"),
        DeleteFile(path="old/thing.py"),
        SearchReplace(path="src/b.py", search="z\n", replace="w\n", number=3),
    ]


def test_malformed_blocks_are_reported_not_guessed() -> None:
    parsed = parse_edit_response(
        "a.py\n```\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n```\n"
        "Some prose without a path\n```\n<<<<<<< SEARCH\nx\n=======\ny\n```\n"
    )
    assert parsed.blocks == []
    assert parsed.problems == [
        "block 1 (fence at line 2): SEARCH section has no ======= divider",
        "block 2 (fence at line 8): REPLACE section has no >>>>>>> REPLACE marker",
    ]


def test_unclosed_fence_and_missing_path_are_problems() -> None:
    assert parse_edit_response(
        "```\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```"
    ).problems == [
        "block 1 (fence at line 1): no file path; write the path alone on the line before the fence"
    ]
    assert parse_edit_response("a.py\n```python\nx = 1\n").problems == [
        "the code fence opened at line 2 is never closed"
    ]


def test_exact_match_replaces_the_single_occurrence() -> None:
    result = apply("a\nb\nc\n", "b\n", "B\n")
    assert (result.content, result.tier) == ("a\nB\nc\n", "exact")


def test_exact_match_that_occurs_twice_is_ambiguous() -> None:
    with pytest.raises(MatchProblem, match="occurs 2 times"):
        apply("b\nb\n", "b\n", "c\n")


def test_whitespace_insensitive_match_keeps_the_file_indentation() -> None:
    content = "class A:\n    def f(self):\n        return  1\n\n    def g(self):\n        pass\n"
    result = apply(content, "def f(self):\n    return 1\n", "def f(self):\n    return 2\n")
    assert result.tier == "whitespace"
    assert result.content == (
        "class A:\n    def f(self):\n        return 2\n\n    def g(self):\n        pass\n"
    )


def test_fuzzy_match_accepts_a_close_copy_above_the_threshold() -> None:
    body = "    s = sum(i.price for i in items)\n    return s\n"
    content = "def total(items):\n    # sum every price in the basket\n" + body
    search = "def total(items):\n    # sum the prices\n" + body
    result = apply(content, search, "def total(items):\n    return sum(i.price for i in items)\n")
    assert result.tier == "fuzzy" and 0.85 <= result.similarity < 1
    assert result.content == "def total(items):\n    return sum(i.price for i in items)\n"


def test_fuzzy_match_below_the_threshold_is_not_found() -> None:
    with pytest.raises(MatchProblem, match=r"not found \(best similarity 0\.\d\d, needed 0\.85\)"):
        apply("alpha\nbeta\ngamma\n", "something else entirely\n", "x\n")


def test_fuzzy_match_with_two_equal_candidates_is_ambiguous() -> None:
    content = "def a():\n    return compute(1, 2)\n\n\ndef b():\n    return compute(1, 2)\n"
    with pytest.raises(MatchProblem, match=r"is ambiguous: lines 2 and 6 match about equally"):
        apply(content, "    return compute(1,2)  # note\n", "    return 0\n", threshold=0.8)


def test_empty_search_on_an_existing_file_is_refused() -> None:
    with pytest.raises(MatchProblem, match="SEARCH section is empty"):
        apply("a\n", "\n", "b\n")

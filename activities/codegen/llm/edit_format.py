"""Parsing a model's edit response: SEARCH/REPLACE blocks and whole files in markdown fences.

The format (shown to the model in the prompt):

    path/to/file.py
    ```python
    <<<<<<< SEARCH
    lines as they are now
    =======
    lines as they should be
    >>>>>>> REPLACE
    ```

A fence without SEARCH markers after a path is the whole new content of that file, and a line
`DELETE path/to/file` removes a file. Problems are collected, not raised one by one, so the
model can be told about all of them at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SEARCH = re.compile(r"^\s*<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9} ?REPLACE\s*$")
_DELETE = re.compile(r"^\s*DELETE:?\s+`?([^`\s]+)`?\s*$")
_FENCE = re.compile(r"^\s*(`{3,})(.*)$")
_PATH_PREFIX = re.compile(r"^(?:#+\s*)?(?:file(?:name)?|path)\s*:\s*", re.I)


@dataclass(frozen=True)
class SearchReplace:
    """Replace `search` with `replace` in `path`."""

    path: str
    search: str
    replace: str
    number: int


@dataclass(frozen=True)
class WholeFile:
    """The complete new content of `path`."""

    path: str
    content: str


@dataclass(frozen=True)
class DeleteFile:
    path: str


EditBlock = SearchReplace | WholeFile | DeleteFile


@dataclass
class ParsedEdits:
    """Blocks found in a response, and what was malformed about it."""

    blocks: list[EditBlock] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _as_path(line: str | None) -> str | None:
    if line is None:
        return None
    text = _PATH_PREFIX.sub("", line.strip()).strip().strip("*`'\"").rstrip(":").strip()
    if not text or " " in text or len(text) > 300:
        return None
    if "/" not in text and "." not in text and not text[:1].isupper():
        return None
    return text


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def parse_edit_response(text: str) -> ParsedEdits:
    """Every edit block of a model response, with the problems that make others unusable."""
    out = ParsedEdits()
    lines = text.split("\n")
    last_text: str | None = None
    number = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            ticks = fence.group(1)
            start = i
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != ticks:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                out.problems.append(f"the code fence opened at line {start + 1} is never closed")
                break
            path = _as_path(last_text)
            if body and _as_path(body[0]) and len(body) > 1 and _SEARCH.match(body[1]):
                path = _as_path(body[0])
                body = body[1:]
            if any(_SEARCH.match(b) for b in body):
                number = _parse_search_replace(body, path, number, start, out)
            elif path is not None:
                out.blocks.append(WholeFile(path=path, content=_join(body)))
            last_text = None
        else:
            deleted = _DELETE.match(line)
            if deleted:
                out.blocks.append(DeleteFile(path=deleted.group(1)))
            elif _SEARCH.match(line):
                out.problems.append(
                    f"line {i + 1}: a SEARCH marker outside a code fence; put every "
                    "SEARCH/REPLACE block inside ``` fences after the file path"
                )
            elif line.strip():
                last_text = line
        i += 1
    return out


def _parse_search_replace(
    body: list[str], path: str | None, number: int, start: int, out: ParsedEdits
) -> int:
    k = 0
    while k < len(body):
        if not _SEARCH.match(body[k]):
            k += 1
            continue
        number += 1
        label = f"block {number} (fence at line {start + 1})"
        search: list[str] = []
        k += 1
        while k < len(body) and not _DIVIDER.match(body[k]) and not _SEARCH.match(body[k]):
            search.append(body[k])
            k += 1
        if k >= len(body) or not _DIVIDER.match(body[k]):
            out.problems.append(f"{label}: SEARCH section has no ======= divider")
            continue
        replace: list[str] = []
        k += 1
        while k < len(body) and not _REPLACE.match(body[k]) and not _SEARCH.match(body[k]):
            replace.append(body[k])
            k += 1
        if k >= len(body) or not _REPLACE.match(body[k]):
            out.problems.append(f"{label}: REPLACE section has no >>>>>>> REPLACE marker")
            continue
        k += 1
        if path is None:
            out.problems.append(
                f"{label}: no file path; write the path alone on the line before the fence"
            )
            continue
        out.blocks.append(
            SearchReplace(path=path, search=_join(search), replace=_join(replace), number=number)
        )
    return number

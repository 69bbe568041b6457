"""Applying one SEARCH/REPLACE block to a file: exact, then whitespace-insensitive, then fuzzy.

Models copy code imperfectly (re-indented, re-wrapped, a changed comment). Each tier is
tried in turn; a tier that finds the text more than once refuses rather than guessing, and the
fuzzy tier only accepts a unique best window above the similarity threshold.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


class MatchProblem(Exception):
    """Why a block could not be applied; the message is fed back to the model."""


@dataclass(frozen=True)
class Applied:
    content: str
    tier: str  # "exact", "whitespace" or "fuzzy"
    similarity: float


def _norm(line: str) -> str:
    return " ".join(line.split())


def _trim_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(replace_lines: list[str], search_lines: list[str], matched: list[str]) -> list[str]:
    """Shift the replacement by the indentation difference between SEARCH and the file."""
    s = next((ln for ln in search_lines if ln.strip()), "")
    m = next((ln for ln in matched if ln.strip()), "")
    si, mi = _indent(s), _indent(m)
    if mi.startswith(si) and mi != si:
        extra = mi[len(si) :]
        return [extra + ln if ln.strip() else ln for ln in replace_lines]
    if si.startswith(mi) and mi != si:
        cut = len(si) - len(mi)
        return [ln[cut:] if ln[:cut].isspace() else ln.lstrip() for ln in replace_lines]
    return replace_lines


def _splice(file_lines: list[str], at: int, length: int, new_lines: list[str]) -> str:
    ends_with_newline = not file_lines or file_lines[-1].endswith("\n")
    body = [ln.rstrip("\n") for ln in file_lines]
    body[at : at + length] = new_lines
    text = "\n".join(body)
    return text + "\n" if body and ends_with_newline else text


def apply_search_replace(
    content: str, search: str, replace: str, *, threshold: float, label: str
) -> Applied:
    """`content` with `search` replaced; raises MatchProblem naming `label` otherwise."""
    if not search.strip():
        raise MatchProblem(
            f"{label}: the SEARCH section is empty; to change an existing file, copy the lines "
            "to replace into SEARCH"
        )
    count = content.count(search)
    if count == 1:
        return Applied(content.replace(search, replace, 1), "exact", 1.0)
    if count > 1:
        raise MatchProblem(
            f"{label}: the SEARCH text occurs {count} times; include more surrounding lines "
            "so it matches exactly once"
        )
    file_lines = content.splitlines(keepends=True)
    search_lines = _trim_blank(search.split("\n"))
    replace_lines = replace.split("\n")
    if replace_lines and replace_lines[-1] == "":
        replace_lines.pop()
    m = len(search_lines)
    normalized_file = [_norm(ln) for ln in file_lines]
    normalized_search = [_norm(ln) for ln in search_lines]

    hits = [
        i for i in range(len(file_lines) - m + 1) if normalized_file[i : i + m] == normalized_search
    ]
    if len(hits) > 1:
        raise MatchProblem(
            f"{label}: the SEARCH text matches {len(hits)} places when whitespace is ignored "
            f"(lines {', '.join(str(h + 1) for h in hits)}); include more context"
        )
    if hits:
        at = hits[0]
        matched = [ln.rstrip("\n") for ln in file_lines[at : at + m]]
        new = _reindent(replace_lines, search_lines, matched)
        return Applied(_splice(file_lines, at, m, new), "whitespace", 1.0)

    target = "\n".join(normalized_search)
    scored: list[tuple[float, int, int]] = []
    for size in {max(m - 1, 1), m, m + 1}:
        for i in range(len(file_lines) - size + 1):
            window = "\n".join(normalized_file[i : i + size])
            matcher = difflib.SequenceMatcher(None, target, window, autojunk=False)
            if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                continue
            scored.append((matcher.ratio(), i, size))
    scored.sort(key=lambda s: (-s[0], s[1]))
    if not scored or scored[0][0] < threshold:
        best = _best_effort(normalized_file, target, m)
        raise MatchProblem(
            f"{label}: the SEARCH text was not found (best similarity {best:.2f}, "
            f"needed {threshold:.2f}); copy the current lines exactly from the file shown"
        )
    ratio, at, size = scored[0]
    rivals = [s for s in scored[1:] if s[0] >= ratio - 0.01 and abs(s[1] - at) >= max(size, 1)]
    if rivals:
        raise MatchProblem(
            f"{label}: the SEARCH text is ambiguous: lines {at + 1} and {rivals[0][1] + 1} "
            f"match about equally ({ratio:.2f}); include more context"
        )
    matched = [ln.rstrip("\n") for ln in file_lines[at : at + size]]
    new = _reindent(replace_lines, search_lines, matched)
    return Applied(_splice(file_lines, at, size, new), "fuzzy", round(ratio, 3))


def _best_effort(normalized_file: list[str], target: str, m: int) -> float:
    best = 0.0
    for i in range(max(len(normalized_file) - m + 1, 1)):
        window = "\n".join(normalized_file[i : i + m])
        best = max(best, difflib.SequenceMatcher(None, target, window).ratio())
        if i > 5000:
            break
    return best

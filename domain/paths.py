"""Path policy shared by plan validation and the git layer: allowed/forbidden globs.

Globs use git-style semantics: `*` does not cross `/`, `**` matches any depth, and a pattern
ending in `/` (or naming a directory) covers everything below it.
"""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    pat = pattern.strip().lstrip("/")
    if pat.endswith("/"):
        pat += "**"
    out = []
    i = 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pat.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(c))
            i += 1
    # a pattern naming a directory also covers its contents
    return re.compile("^" + "".join(out) + "(?:/.*)?$")


def matches_glob(path: str, pattern: str) -> bool:
    """True when the repository-relative `path` matches the git-style glob `pattern`."""
    return bool(_glob_regex(pattern).match(path))


def path_violation(path: str, allowed: list[str], forbidden: list[str]) -> str | None:
    """Why `path` may not be touched under the constraints, or None when it may."""
    for pattern in forbidden:
        if matches_glob(path, pattern):
            return f"path {path!r} matches forbidden pattern {pattern!r}"
    if allowed and not any(matches_glob(path, p) for p in allowed):
        return f"path {path!r} is outside the allowed paths {allowed!r}"
    return None


# --- repository-relative paths a request may name ---------------------------------------

# the characters str.isspace() accepts, spelt out so ECMA-262 and Python agree
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# The same rules as `relative_path_problem`, for the OpenAPI document.
RELATIVE_PATH_PATTERN = (
    rf"^(?![{_SPACE}])(?![\s\S]*[{_SPACE}]$)(?![/\\])(?![\s\S]:)"
    r"(?![\s\S]*(?:^|[/\\])(?:\.\.?|\.[gG][iI][tT])?(?:[/\\]|$))[^\x00]+$"
)


def relative_path_problem(path: str) -> str | None:
    """Why `path` is not a normalised repository-relative path outside `.git`, or None
    (the pure part of the git layer's edit check, so a request is refused at the edge)."""
    if not path or "\x00" in path or path != path.strip():
        return "must be non-empty, without NUL or surrounding whitespace"
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        return "must be relative to the repository root"
    parts = path.replace("\\", "/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "must be normalised: no empty, '.' or '..' parts"
    if any(part.lower() == ".git" for part in parts):
        return "must not be inside a .git directory"
    return None

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

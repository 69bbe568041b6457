"""Path policy shared by plan validation and the git layer: allowed/forbidden globs.

Globs are gitignore patterns (pathspec's implementation of git's own rules), so they mean
what they mean in a .gitignore:
- a pattern without a slash matches at any depth: `*.pem` covers `config/key.pem`, `.env`
  covers `x/.env`;
- a pattern with a slash is anchored at the repository root: `docs/*.md` covers
  `docs/a.md` but not `docs/a/b.md` (`docs/**/*.md` covers both);
- `*` and `?` never cross `/`, `**` spans directories;
- a pattern naming a directory (`build`, `build/`) covers everything below it.
Negation (`!pattern`) has no meaning for a single allow or deny rule and is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pathspec

_BLANK = " \t\n\r\f\v"  # the ASCII whitespace a pattern is trimmed of
_WS = r" \t\n\r\f\v"  # the same, spelt for a character class
# What a path rule may be, as one regular expression so the API declares exactly what it
# accepts (api/schemas/executions.py puts it in the OpenAPI document): not blank, not a
# comment (`#`) or a negation (`!`), no trailing backslash (git refuses a lone one), no
# NUL. Python's and ECMAScript's readings of it agree (no `\s`, no `$` subtleties:
# the server uses `fullmatch`).
PATH_RULE_PATTERN = rf"^[{_WS}]*(?:[^{_WS}#!\\\x00]|[^{_WS}#!\x00][^\x00]*[^{_WS}\\\x00])[{_WS}]*$"
_PATH_RULE = re.compile(PATH_RULE_PATTERN)
PATH_RULE_MESSAGE = (
    "a path pattern must not be blank, a comment (#) or a negation (!), nor end with a backslash"
)


class GlobError(ValueError):
    """A glob that cannot be a path rule."""


@lru_cache(maxsize=1024)
def _spec(pattern: str) -> pathspec.GitIgnoreSpec:
    if not _PATH_RULE.fullmatch(pattern):
        raise GlobError(PATH_RULE_MESSAGE)
    return pathspec.GitIgnoreSpec.from_lines([pattern.strip(_BLANK)])


def glob_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a path rule, or None."""
    try:
        _spec(pattern)
    except (GlobError, ValueError) as exc:
        return str(exc)
    return None


def matches_glob(path: str, pattern: str) -> bool:
    """True when the repository-relative `path` matches the gitignore-style `pattern`."""
    try:
        return bool(_spec(pattern).match_file(path))
    except (GlobError, ValueError):
        return False


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

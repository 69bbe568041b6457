"""Feature branch names: `builder/<slug-of-title>-<short execution id>`, valid git refs."""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG = 48


def slugify(title: str) -> str:
    """Lowercase ASCII words joined by '-', safe for `git check-ref-format`."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_title.lower())
    slug = "-".join(words)[:MAX_SLUG].strip("-")
    return slug or "feature"


def feature_branch_name(title: str, execution_id: str) -> str:
    """Default feature branch of an execution."""
    short = execution_id.replace("-", "")[:8]
    return f"builder/{slugify(title)}-{short}"


# --- branch names a request may name (target and default branches) ------------------------

MAX_BRANCH = 255
_FORBIDDEN_CHARS = frozenset(" ~^:?*[\\\x7f")

# The same rules as `branch_name_problem`, for the OpenAPI document (ECMA-262 and Python
# `re` agree on every construct used; `[\s\S]` instead of `.` so line separators count).
BRANCH_NAME_PATTERN = (
    r"^(?!-)(?!/)(?!@$)(?!HEAD$)"
    r"(?![\s\S]*\.\.)(?![\s\S]*@\{)(?![\s\S]*//)(?![\s\S]*/$)(?![\s\S]*\.$)"
    r"(?![\s\S]*(?:^|/)\.)(?![\s\S]*\.lock(?:/|$))"
    r"[^\x00-\x20\x7f~^:?*\[\\]{1,255}$"
)


def branch_name_problem(name: str) -> str | None:
    """Why `name` cannot be a branch, or None: git's `check-ref-format --branch` rules
    (no `..`, `@{`, `//`, control characters, space, `~^:?*[\\`; no component starting
    with `.` or ending in `.lock`; not `@`, not starting with `-` or `/`, not ending in
    `/` or `.`), plus not `HEAD` and at most 255 characters."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_BRANCH:
        return f"must be at most {MAX_BRANCH} characters"
    if any(ord(c) < 0x21 or c in _FORBIDDEN_CHARS for c in name):
        return "must not contain spaces, control characters or any of ~ ^ : ? * [ \\"
    if name in ("@", "HEAD"):
        return "must not be '@' or 'HEAD'"
    if name.startswith(("-", "/")) or name.endswith(("/", ".")):
        return "must not start with '-' or '/' nor end with '/' or '.'"
    if ".." in name or "@{" in name or "//" in name:
        return "must not contain '..', '@{' or '//'"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "no part between slashes may start with '.' or end with '.lock'"
    return None

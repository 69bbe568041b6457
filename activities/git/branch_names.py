"""Feature branch names: `builder/<slug-of-title>-<short execution id>`."""

from __future__ import annotations

import re
import unicodedata

PREFIX = "builder/"
_MAX_SLUG = 48


def slugify(title: str) -> str:
    """Lowercase ASCII words joined by '-', at most 48 characters; 'feature' when empty."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    slug = slug[:_MAX_SLUG].rstrip("-")
    return slug or "feature"


def feature_branch_name(title: str, execution_id: str) -> str:
    """The default feature branch of an execution; always a valid git branch name."""
    short = re.sub(r"[^a-z0-9]", "", execution_id.lower())[:8] or "0"
    return f"{PREFIX}{slugify(title)}-{short}"

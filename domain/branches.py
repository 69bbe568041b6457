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

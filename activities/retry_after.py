"""How long a rate-limited or overloaded HTTP server asked us to wait (one parser for the
model providers and the forges)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any


def retry_after_seconds(headers: Mapping[str, Any] | Any) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI, Anthropic), `Retry-After` (seconds or an HTTP
    date) or a rate-limit reset header (an epoch on GitHub and GitLab, else seconds); None
    when the server said nothing usable. Never negative."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            pass
    reset = (headers.get("x-ratelimit-reset") or headers.get("ratelimit-reset") or "").strip()
    if reset.isdigit():
        seconds = float(reset)
        return max(seconds - time.time(), 0.0) if seconds > 1_000_000_000 else seconds
    return None

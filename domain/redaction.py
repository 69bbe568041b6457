"""Secret redaction for everything builder writes to logs, events and Temporal payloads.

Two nets catch a secret before it reaches a log line: a process-wide registry of the exact
values the process has seen (decrypted credentials, LLM keys, vault keys) and patterns for
credentials that look like credentials whether or not anyone registered them (URLs with
userinfo, Authorization headers, `bld_` API keys, well-known token prefixes, PEM private
keys).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from pydantic import SecretStr

REDACTED = "***"

# Shorter values would shred ordinary words; nobody's real secret is this short.
MIN_SECRET_LENGTH = 4
# A long-running worker registers each execution's credentials; keep the newest only.
MAX_REGISTERED_SECRETS = 10_000


class SecretRegistry:
    """The exact secret values this process must never log (bounded, thread-safe)."""

    def __init__(self, capacity: int = MAX_REGISTERED_SECRETS) -> None:
        self._capacity = capacity
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        # The values themselves must never show up in a repr.
        return f"SecretRegistry({len(self._values)} values)"

    def __len__(self) -> int:
        return len(self._values)

    def register(self, value: str | SecretStr | None) -> None:
        """Remember `value` (and its URL-encoded form) so redact() removes it."""
        if value is None:
            return
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if len(raw) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            # The URL-encoded form is what shows up inside a remote URL.
            for form in {raw, quote(raw, safe="")}:
                self._values.pop(form, None)
                self._values[form] = None
            while len(self._values) > self._capacity:
                self._values.popitem(last=False)
            self._pattern = None

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first so a secret that contains another is removed whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern


_REGISTRY = SecretRegistry()


def register_secret(value: str | SecretStr | None) -> None:
    """Never log `value` again in this process (None and very short values are ignored)."""
    _REGISTRY.register(value)


def register_secrets(values: Iterable[str | SecretStr | None]) -> None:
    """register_secret for each value."""
    for value in values:
        _REGISTRY.register(value)


def clear_registered_secrets() -> None:
    """Forget every registered value (tests; a process never needs this)."""
    _REGISTRY.clear()


def secret_registry() -> SecretRegistry:
    """The process-wide registry."""
    return _REGISTRY


_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*?)PRIVATE KEY-----"
    r"(?:.*?-----END (?P=kind)PRIVATE KEY-----|.*\Z)",
    re.DOTALL,
)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/\s@'\"<>]+@")
_AUTHORIZATION = re.compile(
    r"(?P<key>\b(?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)"
    r"(?:(?P<scheme>bearer|basic|token|digest|negotiate)\s+)?[^\s'\",;}]+",
    re.IGNORECASE,
)
_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:password|passwd|secret|client_secret|api[_-]?key|access[_-]?token"
    r"|refresh[_-]?token|private[_-]?token|x-api-key)['\"]?\s*[:=]\s*['\"]?)"
    r"(?!\*\*\*)[^\s'\",;&}]+",
    re.IGNORECASE,
)
_TOKENS = re.compile(
    r"\b(?:"
    r"bld_[A-Za-z0-9_\-]{8,}"  # builder API keys
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|glpat-[A-Za-z0-9_\-]{16,}"  # GitLab
    r"|sk-[A-Za-z0-9_\-]{20,}"  # OpenAI / Anthropic style keys
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"  # Slack
    r"|AKIA[0-9A-Z]{16}"  # AWS access key ids
    r")"
)


def _authorization(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    return f"{match.group('key')}{scheme + ' ' if scheme else ''}{REDACTED}"


def redact(text: str) -> str:
    """`text` with registered secrets and credential-shaped substrings replaced by ***."""
    if not text:
        return text
    pattern = _REGISTRY.pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _PEM_PRIVATE_KEY.sub(
        lambda m: f"-----BEGIN {m.group('kind')}PRIVATE KEY----- {REDACTED}", text
    )
    text = _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)
    text = _AUTHORIZATION.sub(_authorization, text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group('key')}{REDACTED}", text)
    return _TOKENS.sub(REDACTED, text)


_SENSITIVE_KEY = re.compile(
    r"^(?:proxy-)?authorization$|^(?:set-)?cookie$|password|passwd|secret"
    r"|(?:^|[_-])token(?:$|[_-])|api[_-]?key|private[_-]?key|^credentials?$",
    re.IGNORECASE,
)


def is_sensitive_key(name: str) -> bool:
    """Whether a mapping key (header, field, setting) names a credential."""
    return bool(_SENSITIVE_KEY.search(name))


def redact_value(value: Any) -> Any:
    """`value` with strings redacted and values under credential-named keys replaced.

    Walks dicts, lists and tuples (tuples come back as lists); other types pass unchanged.
    """
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, SecretStr):
        return REDACTED
    if isinstance(value, dict):
        return {
            key: REDACTED
            if isinstance(key, str) and is_sensitive_key(key) and value[key] is not None
            else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value

"""The per-tenant concurrency limit: which limit applies and who is admitted next.

Pure rules; persistence/admission.py counts the rows and applies them in one transaction
per tenant. A slot is held by an admitted execution until it reaches a terminal state, so
nothing in a worker's memory can leak one.
"""

from __future__ import annotations

from dataclasses import dataclass

# what an operator writes for "no limit" (CLI `builder tenants limit T none`)
UNLIMITED_WORDS = frozenset({"none", "unlimited", "0"})


def effective_limit(default: int | None, has_override: bool, override: int | None) -> int | None:
    """The limit for one tenant: its override when it has one (None there means unlimited),
    else the deployment's default; 0 or None means unlimited."""
    value = override if has_override else default
    return value if value else None


@dataclass(frozen=True)
class Decision:
    """What one admission attempt decided: admitted, or waiting at `position` (1-based)."""

    admitted: bool
    position: int | None


def decide(limit: int | None, held: int, ahead: int) -> Decision:
    """Strict FIFO: an execution is admitted when the free slots reach its place in the
    queue (`ahead` live waiters enqueued before it; `held` slots in use)."""
    if held < 0 or ahead < 0:
        raise ValueError("counts cannot be negative")
    if limit is None or held + ahead < limit:
        return Decision(admitted=True, position=None)
    return Decision(admitted=False, position=ahead + 1)


def parse_limit(value: str) -> int | None:
    """A limit as an operator writes it: a positive integer, or none/unlimited/0."""
    word = value.strip().lower()
    if word in UNLIMITED_WORDS:
        return None
    if not word.isdigit():
        raise ValueError("a limit is a positive integer or 'none'")
    number = int(word)
    if number > 100_000:
        raise ValueError("a limit is at most 100000")
    return number

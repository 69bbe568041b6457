"""What every forge client shares: its HTTP layer, location and limits, and the rule that
labels, reviewers and assignees a forge refuses become notes, not failures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from activities.forges.body import LIMITS
from activities.forges.errors import ForgeNotFound, ForgeRequestRejected
from activities.forges.http import ForgeHttp
from activities.forges.location import ForgeLocation
from activities.forges.model import Applied, ForgeKind, TextLimits


def segment(value: str) -> str:
    """One path segment, percent-encoded (slashes included)."""
    return quote(value, safe="")


class ForgeClient:
    """Base of the six provider clients."""

    kind: ForgeKind

    def __init__(self, http: ForgeHttp, location: ForgeLocation) -> None:
        self.http = http
        self.location = location
        self.limits: TextLimits = LIMITS[self.kind]

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def name(self) -> str:
        return self.kind.display_name

    async def _soft(self, applied: Applied, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        """Run `call`; a refusal (unknown user, missing label) is noted, auth and rate
        limits still raise."""
        try:
            return await call()
        except (ForgeRequestRejected, ForgeNotFound) as err:
            reason = getattr(err, "provider_message", "") or err.message
            applied.notes.append(f"{self.name} did not {what}: {reason}")
            return None

    def unsupported(self, what: str) -> Applied:
        return Applied(notes=[f"{self.name} pull requests have no {what}; skipped"])

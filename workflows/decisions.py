"""Messages clients send to a running execution: cancel requests and plan decisions."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = None


class PlanDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    approved: bool
    reason: str | None = None
    by: str | None = None

"""What one agent turn consists of, provider-neutral and storable as JSON: the model's
response (text and tool calls) and the outcome of each tool call."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolCall(BaseModel):
    """One tool call the model asked for (`arguments` as the model sent them, parsed)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    # the raw argument text when it was not a JSON object (the tool answers with an error)
    invalid_arguments: str | None = None


class ModelTurn(BaseModel):
    """One model response and the tokens the provider billed for it."""

    model_config = ConfigDict(extra="forbid")

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None


class ToolOutcome(BaseModel):
    """What a tool call returned to the model; `kind` classifies errors for the stops."""

    model_config = ConfigDict(extra="forbid")

    call_id: str
    name: str
    content: str
    is_error: bool = False
    # "policy" (a forbidden path), "timeout" (a command ran out of time), "finish" (the
    # model finished), "invalid" (bad arguments or unknown tool)
    kind: str | None = None
    duration_s: float = 0.0


class Exchange(BaseModel):
    """A stored turn as the conversation replays it: the response and its tool outcomes."""

    turn: ModelTurn
    outcomes: list[ToolOutcome] = Field(default_factory=list)


def fingerprint(exchange: Exchange) -> str:
    """Action and observation of a turn, for stuck detection (ids and timings left out)."""
    calls = [(c.name, json.dumps(c.arguments, sort_keys=True)) for c in exchange.turn.tool_calls]
    seen = [(o.name, o.content, o.is_error) for o in exchange.outcomes]
    return json.dumps([exchange.turn.text.strip() if not calls else "", calls, seen])

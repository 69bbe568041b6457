"""Native tool calling on OpenAI-compatible chat completions and Anthropic messages, through
the official SDKs (retries off: Temporal owns them; a set cancel event aborts the call)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from activities.codegen.agent.protocol import Exchange, ModelTurn, ToolCall
from activities.codegen.llm.config import LLMConfig
from activities.codegen.llm.providers import (
    anthropic_client,
    anthropic_errors,
    openai_client,
    openai_errors,
    run_cancellable,
)
from domain.errors import GenerationFailed

NUDGE = "No tool was called. Call a tool to continue, or `finish` with a summary when done."


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


class ToolModel(Protocol):
    provider: str
    model: str

    def respond(
        self,
        system: str,
        task: str,
        history: list[Exchange],
        tools: list[ToolSpec],
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> ModelTurn: ...


def _parse_arguments(call_id: str, name: str, raw: str | None) -> ToolCall:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return ToolCall(id=call_id, name=name, invalid_arguments=(raw or "")[:500])
    return ToolCall(id=call_id, name=name, arguments=value)


def openai_messages(system: str, task: str, history: list[Exchange]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"role": "system", "content": system},
        {"role": "user", "content": task},
    ]
    for ex in history:
        message: dict[str, Any] = {"role": "assistant", "content": ex.turn.text or None}
        if ex.turn.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {
                        "name": c.name,
                        "arguments": c.invalid_arguments or json.dumps(c.arguments),
                    },
                }
                for c in ex.turn.tool_calls
            ]
        out.append(message)
        out += [
            {"role": "tool", "tool_call_id": o.call_id, "content": o.content} for o in ex.outcomes
        ]
        if not ex.turn.tool_calls:
            out.append({"role": "user", "content": NUDGE})
    return out


def anthropic_messages(task: str, history: list[Exchange]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "user", "content": task}]
    for ex in history:
        blocks: list[dict[str, Any]] = []
        if ex.turn.text:
            blocks.append({"type": "text", "text": ex.turn.text})
        blocks += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
            for c in ex.turn.tool_calls
        ]
        out.append({"role": "assistant", "content": blocks or [{"type": "text", "text": "…"}]})
        if ex.turn.tool_calls:
            out.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": o.call_id,
                            "content": o.content,
                            "is_error": o.is_error,
                        }
                        for o in ex.outcomes
                    ],
                }
            )
        else:
            out.append({"role": "user", "content": NUDGE})
    return out


class OpenAIToolModel:
    provider = "openai"

    def __init__(self, config: LLMConfig) -> None:
        self.model = config.model
        self.config = config
        self._client = openai_client(config)

    def respond(
        self,
        system: str,
        task: str,
        history: list[Exchange],
        tools: list[ToolSpec],
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> ModelTurn:
        payload: Any = openai_messages(system, task, history)
        specs: Any = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in tools
        ]
        options: dict[str, Any] = {self.config.openai_max_tokens_param: max_tokens}
        turn = len(history)

        def call() -> ModelTurn:
            with openai_errors():
                response = self._client.chat.completions.create(
                    model=self.model,
                    messages=payload,
                    tools=specs,
                    temperature=self.config.temperature,
                    **options,
                )
            if not response.choices:
                raise GenerationFailed("openai model returned no choices")
            choice = response.choices[0]
            calls = [
                _parse_arguments(c.id or f"call_{turn}_{n}", c.function.name, c.function.arguments)
                for n, c in enumerate(choice.message.tool_calls or [])
                if c.type == "function"
            ]
            usage = response.usage
            return ModelTurn(
                text=choice.message.content or "",
                tool_calls=calls,
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
                stop_reason=choice.finish_reason,
            )

        return run_cancellable(call, self._client.close, cancel, "model call")


class AnthropicToolModel:
    provider = "anthropic"

    def __init__(self, config: LLMConfig) -> None:
        self.model = config.model
        self.config = config
        self._client = anthropic_client(config)

    def respond(
        self,
        system: str,
        task: str,
        history: list[Exchange],
        tools: list[ToolSpec],
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> ModelTurn:
        payload: Any = anthropic_messages(task, history)
        specs: Any = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in tools
        ]

        def call() -> ModelTurn:
            with anthropic_errors():
                response = self._client.messages.create(
                    model=self.model,
                    system=system,
                    messages=payload,
                    tools=specs,
                    max_tokens=max_tokens,
                )
            text = "".join(getattr(b, "text", "") for b in response.content if b.type == "text")
            calls = [
                ToolCall(id=b.id, name=b.name, arguments=dict(b.input or {}))
                if isinstance(getattr(b, "input", None), dict)
                else ToolCall(id=b.id, name=b.name, invalid_arguments=str(b.input)[:500])
                for b in response.content
                if b.type == "tool_use"
            ]
            return ModelTurn(
                text=text,
                tool_calls=calls,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                stop_reason=response.stop_reason,
            )

        return run_cancellable(call, self._client.close, cancel, "model call")


def build_tool_model(config: LLMConfig) -> ToolModel:
    if config.provider == "openai":
        return OpenAIToolModel(config)
    if config.provider == "anthropic":
        return AnthropicToolModel(config)
    raise GenerationFailed(f"unknown model provider {config.provider!r}")

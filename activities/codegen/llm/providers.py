"""Chat model providers behind one small interface: OpenAI-compatible and Anthropic.

Both use the official SDKs with their retries off (Temporal owns retries). A call runs in a
helper thread so a set cancellation event aborts it promptly by closing the HTTP client.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anthropic
import openai

from activities.codegen.llm.config import LLMConfig
from activities.retry_after import retry_after_seconds
from domain.cancellation import OperationCancelled
from domain.errors import GenerationFailed

T = TypeVar("T")


class ModelCallFailed(GenerationFailed):
    """The model endpoint failed transiently (connection, timeout, 429, 5xx): retry later."""

    retryable = True


@dataclass(frozen=True)
class Message:
    """One chat turn: role is "user" or "assistant"."""

    role: str
    content: str


@dataclass(frozen=True)
class Completion:
    """The text a model returned and the tokens the provider billed for it."""

    text: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class OutputSchema:
    """A JSON Schema the answer must follow: the providers' structured output (OpenAI's
    `response_format`, a forced tool call on Anthropic); the answer text is then JSON."""

    name: str
    description: str
    schema: dict[str, Any]


class ChatModel(Protocol):
    """A provider that completes a conversation."""

    provider: str
    model: str

    def complete(
        self,
        system: str,
        messages: list[Message],
        max_tokens: int,
        cancel: threading.Event | None = None,
        output: OutputSchema | None = None,
    ) -> Completion: ...


def run_cancellable(
    call: Callable[[], T], abort: Callable[[], None], cancel: threading.Event | None, what: str
) -> T:
    if cancel is None:
        return call()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            done.set()

    # a daemon thread: an abandoned call (bounded by the client timeout) never blocks exit
    threading.Thread(target=target, name="model-call", daemon=True).start()
    while not done.wait(0.1):
        if cancel.is_set():
            abort()
            raise OperationCancelled(f"{what} was cancelled")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _status_error(provider: str, exc: Exception) -> GenerationFailed:
    status = getattr(exc, "status_code", None)
    body = str(getattr(exc, "message", "") or exc)[:300]
    message = f"{provider} model call failed with HTTP {status}: {body}"
    if status in (408, 409, 429) or (isinstance(status, int) and status >= 500):
        response = getattr(exc, "response", None)
        delay = retry_after_seconds(response.headers if response is not None else {})
        if delay is not None:
            delay = min(delay, _MAX_RETRY_AFTER_S)
        return ModelCallFailed(message, details={"status": status}, retry_after_seconds=delay)
    return GenerationFailed(message, details={"status": status})


# a server asking for longer than this is treated as down: Temporal's backoff takes over
_MAX_RETRY_AFTER_S = 600.0


def _client_options(config: LLMConfig) -> dict[str, Any]:
    # retries are Temporal's (with the server's Retry-After), never the SDK's
    key = config.api_key.get_secret_value() if config.api_key else "unused"
    return {
        "api_key": key,
        "base_url": config.base_url,
        "max_retries": 0,
        "timeout": config.timeout_seconds,
    }


def openai_client(config: LLMConfig) -> openai.OpenAI:
    """The SDK client every OpenAI-compatible model of builder uses."""
    return openai.OpenAI(**_client_options(config))


def anthropic_client(config: LLMConfig) -> anthropic.Anthropic:
    """The SDK client every Anthropic model of builder uses."""
    return anthropic.Anthropic(**_client_options(config))


@contextlib.contextmanager
def openai_errors() -> Iterator[None]:
    """The OpenAI SDK's failures as builder's: an HTTP status through `_status_error`
    (retryable when transient), no answer at all as a retryable ModelCallFailed."""
    try:
        yield
    except openai.APIStatusError as exc:
        raise _status_error("openai", exc) from None
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        raise ModelCallFailed(f"openai model endpoint unreachable: {type(exc).__name__}") from None


@contextlib.contextmanager
def anthropic_errors() -> Iterator[None]:
    """The Anthropic SDK's failures as builder's, the same way as `openai_errors`."""
    try:
        yield
    except anthropic.APIStatusError as exc:
        raise _status_error("anthropic", exc) from None
    except (anthropic.APIConnectionError, anthropic.APITimeoutError) as exc:
        raise ModelCallFailed(
            f"anthropic model endpoint unreachable: {type(exc).__name__}"
        ) from None


class OpenAIChatModel:
    """Chat completions on any OpenAI-compatible endpoint."""

    provider = "openai"

    def __init__(self, config: LLMConfig) -> None:
        self.model = config.model
        self.config = config
        self._client = openai_client(config)

    def complete(
        self,
        system: str,
        messages: list[Message],
        max_tokens: int,
        cancel: threading.Event | None = None,
        output: OutputSchema | None = None,
    ) -> Completion:
        payload: list[Any] = [{"role": "system", "content": system}]
        payload += [{"role": m.role, "content": m.content} for m in messages]
        options: dict[str, Any] = {self.config.openai_max_tokens_param: max_tokens}
        if output is not None:
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": output.name,
                    "description": output.description,
                    "schema": output.schema,
                },
            }

        def call() -> Completion:
            with openai_errors():
                response = self._client.chat.completions.create(
                    model=self.model,
                    messages=payload,
                    temperature=self.config.temperature,
                    **options,
                )
            if not response.choices:
                raise GenerationFailed("openai model returned no choices")
            text = response.choices[0].message.content or ""
            usage = response.usage
            return Completion(
                text=text,
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
            )

        return run_cancellable(call, self._client.close, cancel, "model call")


class AnthropicChatModel:
    """The Anthropic Messages API."""

    provider = "anthropic"

    def __init__(self, config: LLMConfig) -> None:
        self.model = config.model
        self.config = config
        self._client = anthropic_client(config)

    def complete(
        self,
        system: str,
        messages: list[Message],
        max_tokens: int,
        cancel: threading.Event | None = None,
        output: OutputSchema | None = None,
    ) -> Completion:
        payload: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
        options: dict[str, Any] = {}
        if output is not None:
            # Anthropic's structured output: a tool the model must call, its input the answer
            options["tools"] = [
                {
                    "name": output.name,
                    "description": output.description,
                    "input_schema": output.schema,
                }
            ]
            options["tool_choice"] = {"type": "tool", "name": output.name}

        def call() -> Completion:
            with anthropic_errors():
                response = self._client.messages.create(
                    model=self.model,
                    system=system,
                    messages=payload,
                    max_tokens=max_tokens,
                    **options,
                )
            text = "".join(
                getattr(block, "text", "") for block in response.content if block.type == "text"
            )
            if output is not None:
                called = [b for b in response.content if b.type == "tool_use"]
                if called:
                    text = json.dumps(getattr(called[0], "input", {}))
            return Completion(
                text=text,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
            )

        return run_cancellable(call, self._client.close, cancel, "model call")


def build_chat_model(config: LLMConfig) -> ChatModel:
    if config.provider == "openai":
        return OpenAIChatModel(config)
    if config.provider == "anthropic":
        return AnthropicChatModel(config)
    raise GenerationFailed(f"unknown model provider {config.provider!r}")

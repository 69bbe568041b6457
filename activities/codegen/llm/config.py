"""Configuration of the `llm` engine: which model, where, and how much it may spend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import SecretStr

Provider = Literal["openai", "anthropic"]


@dataclass(frozen=True)
class LLMConfig:
    """One model endpoint and the limits of one execution's use of it.

    `base_url` selects any OpenAI-compatible server (OpenAI, Azure OpenAI, Ollama, vLLM,
    llama.cpp, LiteLLM) or an Anthropic-compatible one. Prices are USD per 1,000 tokens.
    The API key is a SecretStr so it never appears in a repr or a log line.
    """

    provider: Provider
    model: str
    base_url: str | None = None
    api_key: SecretStr | None = field(default=None, repr=False)
    max_tokens_budget: int | None = None
    max_cost_usd: float | None = None
    price_input_per_1k: float = 0.0
    price_output_per_1k: float = 0.0
    max_feedback_rounds: int = 2
    max_output_tokens: int = 4096
    temperature: float = 0.0
    timeout_seconds: float = 120.0
    small_file_bytes: int = 4000
    fuzzy_threshold: float = 0.85
    max_context_file_bytes: int = 60_000
    # OpenAI deprecated `max_tokens` for `max_completion_tokens`; some older OpenAI-compatible
    # servers only know the old name
    openai_max_tokens_param: Literal["max_completion_tokens", "max_tokens"] = (
        "max_completion_tokens"
    )

    def cost_usd(self, input_tokens: int, output_tokens: int) -> float:
        return round(
            input_tokens / 1000 * self.price_input_per_1k
            + output_tokens / 1000 * self.price_output_per_1k,
            6,
        )

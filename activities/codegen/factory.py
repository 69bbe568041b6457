"""Choosing the change engine of a request, and refusing requests no engine can serve."""

from __future__ import annotations

from typing import Literal

from activities.codegen.agent.engine import AgentEngine
from activities.codegen.engine import ChangeEngine
from activities.codegen.llm import LLMConfig, LLMEngine
from activities.codegen.spec import SpecEngine
from domain.changes import DeclaredChange
from domain.errors import FieldError, ValidationFailed

EngineKind = Literal["spec", "llm", "agent"]

HOW_TO_CONFIGURE = (
    "configure a model with BUILDER_LLM_PROVIDER (openai or anthropic), BUILDER_LLM_MODEL, "
    "BUILDER_LLM_BASE_URL (for OpenAI-compatible servers) and BUILDER_LLM_API_KEY"
)


def engine_kind(changes: list[DeclaredChange] | None) -> EngineKind:
    """Declared changes select the offline spec engine; otherwise a model plans the work."""
    return "spec" if changes else "llm"


def require_engine_available(
    changes: list[DeclaredChange] | None, llm_config: LLMConfig | None
) -> None:
    """Raise ValidationFailed at the edge when a request needs a model and none is set."""
    if not changes and llm_config is None:
        raise ValidationFailed(
            [
                FieldError(
                    "changes",
                    "the request has no declared changes and no model is configured; either "
                    f"send `changes` or {HOW_TO_CONFIGURE}",
                )
            ]
        )


def build_engine(kind: EngineKind, llm_config: LLMConfig | None = None) -> ChangeEngine:
    """The engine of `kind`; the llm and agent engines need `llm_config`."""
    if kind == "spec":
        return SpecEngine()
    if kind == "llm":
        if llm_config is None:
            raise ValidationFailed(
                [FieldError("llm_config", f"the llm engine needs a model: {HOW_TO_CONFIGURE}")]
            )
        return LLMEngine(llm_config)
    if kind == "agent":
        if llm_config is None:
            raise ValidationFailed(
                [FieldError("llm_config", f"the agent engine needs a model: {HOW_TO_CONFIGURE}")]
            )
        return AgentEngine(llm_config)
    raise ValidationFailed([FieldError("engine", f"unknown engine kind {kind!r}")])

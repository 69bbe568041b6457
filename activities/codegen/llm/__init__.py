"""The `llm` change engine: OpenAI-compatible and Anthropic models behind one interface."""

from activities.codegen.llm.config import LLMConfig
from activities.codegen.llm.engine import LLMEngine
from activities.codegen.llm.providers import ModelCallFailed

__all__ = ["LLMConfig", "LLMEngine", "ModelCallFailed"]

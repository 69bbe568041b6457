"""The `agent` engine: a tool-using loop (read, search, edit, run, finish) whose every turn
is stored before the next, so a crash resumes without asking the model again."""

from activities.codegen.agent.engine import AgentEngine
from activities.codegen.agent.loop import AgentLimits
from activities.codegen.agent.models import ToolModel, build_tool_model
from activities.codegen.agent.protocol import Exchange, ModelTurn, ToolCall, ToolOutcome
from activities.codegen.agent.tools import TOOLS, ToolBox

__all__ = [
    "TOOLS",
    "AgentEngine",
    "AgentLimits",
    "Exchange",
    "ModelTurn",
    "ToolBox",
    "ToolCall",
    "ToolModel",
    "ToolOutcome",
    "build_tool_model",
]

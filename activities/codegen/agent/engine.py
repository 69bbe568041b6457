"""The `agent` engine as a ChangeEngine: its plan is one step (the conversation itself is
driven turn by turn by the `agent_turn` activity, not by generate)."""

from __future__ import annotations

import threading

from activities.analysis.report import AnalysisReport
from activities.codegen.budget import Budget
from activities.codegen.engine import (
    FeatureRequest,
    GenerationResult,
    PlanResult,
    ProgressCallback,
)
from activities.codegen.llm.config import LLMConfig
from activities.codegen.workspace import WorkspaceView
from domain.enums import StepType
from domain.errors import GenerationFailed
from domain.values import ExecutionPlan, PlanStep


class AgentEngine:
    kind = "agent"

    def __init__(self, config: LLMConfig) -> None:
        self.config = config

    def plan(
        self,
        request: FeatureRequest,
        analysis: AnalysisReport | None,
        *,
        view: WorkspaceView | None = None,
        budget: Budget | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> PlanResult:
        step = PlanStep(
            index=0,
            description=request.title.strip().splitlines()[0][:200] or "agent change",
            type=StepType.MODIFY_FILE,
        )
        return PlanResult(plan=ExecutionPlan(steps=[step], summary="agent: one tool-using step"))

    def generate(
        self,
        request: FeatureRequest,
        step: PlanStep,
        view: WorkspaceView,
        budget: Budget,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        raise GenerationFailed("the agent engine's edits come from its turns (agent_turn)")

    def repair(
        self,
        request: FeatureRequest,
        failure_log: str,
        view: WorkspaceView,
        budget: Budget,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        raise GenerationFailed("the agent engine repairs inside its own conversation")

"""The one interface every change engine implements, and the plan rules they all obey.

An engine turns a feature request into an `ExecutionPlan` and each plan step into file
edits against a read-only view of the worktree; applying the edits is the git layer's job.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from activities.analysis.report import AnalysisReport
from activities.codegen.budget import Budget, Usage
from activities.codegen.workspace import (
    EditedWorkspace,
    FilesystemWorkspace,
    WorkspaceView,
    normalize_path,
)
from domain.changes import DeclaredChange
from domain.edits import FileEdit
from domain.errors import PlanningFailed, PolicyViolation
from domain.paths import path_violation
from domain.values import ExecutionPlan, FeatureConstraints, PlanStep

__all__ = [
    "Budget",
    "ChangeEngine",
    "EditedWorkspace",
    "FeatureRequest",
    "FilesystemWorkspace",
    "GenerationResult",
    "PlanResult",
    "ProgressCallback",
    "Usage",
    "WorkspaceView",
    "validate_plan",
]

ProgressCallback = Callable[[str], None]


class FeatureRequest(BaseModel):
    """What the client asked for; `changes` selects the declared (spec) path."""

    model_config = ConfigDict(extra="forbid")

    title: str
    description: str
    constraints: FeatureConstraints = Field(default_factory=FeatureConstraints)
    changes: list[DeclaredChange] | None = None


class PlanResult(BaseModel):
    """A validated plan and the model usage it cost (empty for the spec engine)."""

    plan: ExecutionPlan
    usage: list[Usage] = Field(default_factory=list)


class GenerationResult(BaseModel):
    """Edits for one step (or a repair), the usage they cost, and notes for the step log."""

    edits: list[FileEdit]
    usage: list[Usage] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ChangeEngine(Protocol):
    """Plans a feature and generates the edits of each step.

    All methods block; callers run them in threads. `progress` is called between long
    operations (for heartbeats); when `cancel` is set the engine raises OperationCancelled.
    """

    kind: str

    def plan(
        self,
        request: FeatureRequest,
        analysis: AnalysisReport | None,
        *,
        view: WorkspaceView | None = None,
        budget: Budget | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> PlanResult: ...

    def generate(
        self,
        request: FeatureRequest,
        step: PlanStep,
        view: WorkspaceView,
        budget: Budget,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult: ...

    def repair(
        self,
        request: FeatureRequest,
        failure_log: str,
        view: WorkspaceView,
        budget: Budget,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult: ...


def validate_plan(plan: ExecutionPlan, constraints: FeatureConstraints) -> None:
    """Enforce the constraints on a plan.

    Raises PlanningFailed for a malformed plan (no steps, too many steps, bad indices or
    dependencies) and PolicyViolation for a target file the path rules forbid.
    """
    if not plan.steps:
        raise PlanningFailed("plan has no steps")
    if constraints.max_steps and len(plan.steps) > constraints.max_steps:
        raise PlanningFailed(
            f"plan has {len(plan.steps)} steps but constraints.max_steps is "
            f"{constraints.max_steps}",
            details={"steps": len(plan.steps), "max_steps": constraints.max_steps},
        )
    for position, step in enumerate(plan.steps):
        label = f"step {step.index} ({step.type.value})"
        if step.index != position:
            raise PlanningFailed(
                f"{label} has index {step.index} but is at position {position}; "
                "indices must be 0, 1, 2, ..."
            )
        for dep in step.dependencies:
            if dep < 0 or dep >= step.index:
                raise PlanningFailed(f"{label} depends on step {dep}, which is not an earlier step")
        for target in step.target_files:
            try:
                path = normalize_path(target)
            except PolicyViolation as exc:
                raise PolicyViolation(f"{label}: {exc.message}") from None
            why = path_violation(path, constraints.allowed_paths, constraints.forbidden_paths)
            if why:
                raise PolicyViolation(
                    f"{label} targets {why}", details={"step": step.index, "path": path}
                )

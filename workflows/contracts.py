"""Inputs and outputs of the workflow and its activities: one pydantic model in, one out.

Only ids and small summaries travel through Temporal; contents (edits, logs, reports) stay
in Postgres and the artifact store. Nothing here may ever hold a credential.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.enums import ErrorCode, FeatureState
from domain.values import (
    DeliveryResult,
    ExecutionError,
    ExecutionPlan,
    ExecutionProgress,
    FeatureConstraints,
)

TASK_QUEUE = "builder"
WORKFLOW_NAME = "FeatureExecutionWorkflow"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FeatureExecutionInput(_Contract):
    """Start input of one execution (all of it is also in the feature_executions row)."""

    execution_id: str
    tenant_id: str
    repository_id: str
    title: str
    engine: Literal["spec", "llm"] = "spec"
    constraints: FeatureConstraints = Field(default_factory=FeatureConstraints)
    wait_for_lock: bool = False


class FeatureExecutionOutput(_Contract):
    """How the execution ended."""

    state: str
    result: DeliveryResult | None = None
    error: ExecutionError | None = None


class ExecutionRef(_Contract):
    """Which execution an activity works on."""

    execution_id: str
    tenant_id: str


class RecordStateInput(_Contract):
    """Move the execution to `state` and append its event (id chosen by the workflow)."""

    ref: ExecutionRef
    state: FeatureState
    event_id: str
    causation_id: str | None = None
    reason: str | None = None
    progress: ExecutionProgress | None = None
    error: ExecutionError | None = None
    result: DeliveryResult | None = None


class RecordEventInput(_Contract):
    """Append one workflow-level event (plan approval, cancel request, ...)."""

    ref: ExecutionRef
    event_id: str
    event_type: str
    payload: dict[str, object] = Field(default_factory=dict)


class LockRequest(_Contract):
    """Acquire, refresh or release the execution's lock on (repository, feature branch)."""

    ref: ExecutionRef
    owner_id: str
    fencing_token: int | None = None


class LockResult(_Contract):
    acquired: bool
    fencing_token: int | None = None
    lock_key: str
    holder_execution_id: str | None = None


class WorkspaceResult(_Contract):
    """Where the worktree lives: activities touching it go to `task_queue`."""

    task_queue: str
    base_commit: str
    feature_branch: str


class AnalysisResult(_Contract):
    languages: dict[str, float] = Field(default_factory=dict)
    setup_command: str | None = None
    build_command: str | None = None
    test_command: str | None = None
    file_count: int = 0


class PlanResult(_Contract):
    plan: ExecutionPlan


class StepRequest(_Contract):
    """Generate or apply one step; the commit timestamp comes from the workflow."""

    ref: ExecutionRef
    step_index: int
    commit_timestamp: int
    repair_log_artifact: str | None = None


class StepResult(_Contract):
    step_index: int
    commit_sha: str | None = None
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    reused: bool = False


class RepairRequest(_Contract):
    """Ask the engine for a repair step after a failed build or test."""

    ref: ExecutionRef
    failure_code: ErrorCode
    failure_message: str


class RepairResult(_Contract):
    step_index: int | None
    description: str | None = None


class VerifyRequest(_Contract):
    ref: ExecutionRef
    phase: Literal["build", "test"]


class VerifyResult(_Contract):
    phase: str
    skipped: bool
    passed: bool
    exit_code: int | None = None
    duration_s: float = 0.0
    summary: str = ""


class PushRequest(_Contract):
    ref: ExecutionRef
    fencing_token: int | None = None
    owner_id: str


class PushResult(_Contract):
    result: DeliveryResult
    already_up_to_date: bool = False


class CleanupRequest(_Contract):
    ref: ExecutionRef
    keep_warm: bool = True

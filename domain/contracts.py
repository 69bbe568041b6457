"""Inputs and outputs of the workflow and its activities: one pydantic model in, one out.

Only ids and small summaries travel through Temporal; contents (edits, logs, reports) stay
in Postgres and the artifact store. Nothing here may ever hold a credential.

They live in `domain` because only `domain` and third-party modules pass through the
workflow sandbox. Unknown fields are ignored, not refused: a worker of the previous version
must accept what a newer one sends (add fields with defaults; never rename or remove one
while runs of the old shape may exist).
"""

from __future__ import annotations

from datetime import datetime
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
# the limit of one step's activity (generate, apply, an agent turn) and of analyze, plan
# and add_repair_step: workflows/policies.STEP_TIMEOUT is this
STEP_TIMEOUT_S = 15 * 60
WORKFLOW_NAME = "FeatureExecutionWorkflow"


class _Contract(BaseModel):
    model_config = ConfigDict(extra="ignore")


CarryStage = Literal["lock_wait", "approval", "admission", "agent", "agent_tasks"]

# the step index an agent's declaring turns (before its task list is the plan) are stored under
DECLARING_STEP = -1


class Carryover(_Contract):
    """What a run hands to its continuation when a long wait continues as new.

    Three waits can outgrow a history: waiting for a tenant's execution slot and for the
    branch lock (nothing acquired yet), and waiting for plan approval (lock, worktree and
    plan are held and carried over); so can a long agent conversation (`agent`: resumed at
    step `agent_step`, turn `agent_turn`; every earlier turn is stored; `agent_tasks`: the
    same while the agent is still declaring its task list, before the plan)."""

    stage: CarryStage
    owner_id: str
    # commit timestamps and the run's deadline are anchored at the first run's start
    started_at: datetime
    lock: LockResult | None = None
    workspace: WorkspaceResult | None = None
    phase_timeouts: PhaseTimeouts | None = None
    last_event_id: str | None = None
    approval_requested: bool = False
    agent_step: int | None = None
    agent_turn: int | None = None


class WorkflowTimings(_Contract):
    """The workflow's waits, in seconds. The defaults are production's; an operator may
    tune them per run, and tests compress them (no time-skipping server runs here)."""

    lock_retry_every_s: float = 10.0
    lock_refresh_every_s: float = 30.0
    # a refresh that cannot reach Postgres for this long may have let the lease expire
    # (TTL 120 s by default): the run stops rather than push without the lock
    lock_refresh_grace_s: float = 60.0
    # how long a worktree task waits for the worker holding the worktree before it moves
    worker_affinity_wait_s: float = 30.0
    # bookkeeping is retried through a database restart, not forever
    bookkeeping_give_up_s: float = 600.0
    # long waits continue as new past this many events (Temporal's hard limit: 51,200)
    history_events_limit: int = 2_000
    # waiting for a tenant's execution slot: one activity polls this long (heartbeating
    # the queue position), backing off between polls up to admission_poll_max_s
    admission_window_s: float = 60.0
    admission_poll_max_s: float = 5.0


class FeatureExecutionInput(_Contract):
    """Start input of one execution (all of it is also in the feature_executions row)."""

    execution_id: str
    tenant_id: str
    repository_id: str
    title: str
    engine: Literal["spec", "llm", "agent"] = "spec"
    constraints: FeatureConstraints = Field(default_factory=FeatureConstraints)
    wait_for_lock: bool = False
    timings: WorkflowTimings = Field(default_factory=WorkflowTimings)
    carry: Carryover | None = None


class FeatureExecutionOutput(_Contract):
    """How the execution ended."""

    state: str
    result: DeliveryResult | None = None
    error: ExecutionError | None = None


class ExecutionRef(_Contract):
    """Which execution an activity works on."""

    execution_id: str
    tenant_id: str


class AdmissionRequest(_Contract):
    """Ask for one of the tenant's execution slots; wait up to `window_s` for it. `state`
    (the run's first, analyzing) is recorded in the transaction that admits it."""

    ref: ExecutionRef
    window_s: float = 0.0
    poll_max_s: float = 5.0
    state: RecordStateInput | None = None


class CarriedStateResult(_Contract):
    """The result of an activity whose request may carry a state change: `state_recorded`
    says the change was recorded with the result. A worker older than the field does not
    know it and leaves it False; the workflow then records the change itself."""

    state_recorded: bool = False


class AdmissionResult(CarriedStateResult):
    """Admitted, or still waiting at `position` (1-based) in the tenant's queue."""

    admitted: bool
    position: int | None = None
    limit: int | None = None


class StagedEvent(_Contract):
    """An event the workflow appends together with a state change."""

    event_id: str
    event_type: str
    payload: dict[str, object] = Field(default_factory=dict)


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
    # events appended after the state change, in the same transaction
    events: list[StagedEvent] = Field(default_factory=list)


class RecordEventInput(_Contract):
    """Append one workflow-level event (plan approval, cancel request, ...)."""

    ref: ExecutionRef
    event_id: str
    event_type: str
    payload: dict[str, object] = Field(default_factory=dict)


class LockRequest(_Contract):
    """Acquire, refresh or release the execution's lock on (repository, feature branch).

    `state`: a state change the release records in its transaction, after the lock is
    gone (the run's final state), saving the workflow a bookkeeping call."""

    ref: ExecutionRef
    owner_id: str
    fencing_token: int | None = None
    state: RecordStateInput | None = None


class PhaseRequest(ExecutionRef):
    """Which execution a phase activity works on, and the state change to record in the
    transaction that stores the phase's result (the state the run enters next), saving the
    workflow a bookkeeping call. A bare ExecutionRef (older runs) decodes as one without."""

    state: RecordStateInput | None = None

    @classmethod
    def of(cls, ref: ExecutionRef, state: RecordStateInput | None) -> PhaseRequest:
        return cls(execution_id=ref.execution_id, tenant_id=ref.tenant_id, state=state)


class LockResult(CarriedStateResult):
    acquired: bool
    fencing_token: int | None = None
    lock_key: str
    holder_execution_id: str | None = None


class WorkspaceResult(_Contract):
    """Where the worktree lives: activities touching it go to `task_queue`."""

    task_queue: str
    base_commit: str
    feature_branch: str


class PhaseTimeouts(_Contract):
    """Wall-clock limits of the sandboxed phases (the sandbox enforces them); the workflow
    derives the verify activity's own timeout from them, so the two never disagree."""

    setup_s: float = 1800
    build_s: float = 1800
    test_s: float = 1800

    def verify_limit(self, phase: str) -> float:
        """Seconds one verify activity may run: its phases plus a margin for bookkeeping.

        Setup is counted for the tests too: when the environment the build used is gone by
        the time they run (evicted by the store's size cap, removed by an operator), the
        test activity builds it again before testing (activities/phases/environment.py)."""
        running = self.setup_s + (self.build_s if phase == "build" else self.test_s)
        return running + 300


class AnalysisResult(CarriedStateResult):
    languages: dict[str, float] = Field(default_factory=dict)
    setup_command: str | None = None
    build_command: str | None = None
    test_command: str | None = None
    file_count: int = 0
    phase_timeouts: PhaseTimeouts = Field(default_factory=PhaseTimeouts)
    # False when no setup, build or test command, no environment to prepare and no phase
    # required: verification would only record two skipped phases (absent in older
    # histories, hence True)
    verify_needed: bool = True


class PlanResult(CarriedStateResult):
    plan: ExecutionPlan


class StepRequest(_Contract):
    """Generate or apply one step; the commit timestamp comes from the workflow."""

    ref: ExecutionRef
    step_index: int
    commit_timestamp: int
    repair_log_artifact: str | None = None


class StepsRequest(_Contract):
    """Apply declared steps one after another in one activity (the spec engine's: their
    edits are computed, not asked of a model). Step i commits at `base_timestamp + i`, as
    apply_step would; a retry finds the steps already completed and goes on after them.
    Each step gets `step_timeout_s`, the limit one apply_step has: a hung step fails the
    batch (a retryable timeout) once it has run that long, where the batch's own limit is
    n times it."""

    ref: ExecutionRef
    step_indices: list[int]
    base_timestamp: int
    step_timeout_s: float = Field(default=STEP_TIMEOUT_S, gt=0)


class AgentTurnRequest(_Contract):
    """Run one agent turn (one model call and its tool calls); idempotent by turn index."""

    ref: ExecutionRef
    step_index: int
    turn_index: int
    commit_timestamp: int


class AgentTurnResult(_Contract):
    turn_index: int
    finished: bool = False
    reused: bool = False
    tool_calls: int = 0


class StepResult(_Contract):
    step_index: int
    commit_sha: str | None = None
    files_changed: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    reused: bool = False


class StepsResult(_Contract):
    steps: list[StepResult]


class RepairRequest(_Contract):
    """Ask the engine for a repair step after a failed build or test. The workflow chooses
    the step's index, so a retried activity finds the step it already made."""

    ref: ExecutionRef
    failure_code: ErrorCode
    failure_message: str
    step_index: int | None = None
    # setup, build or test: whose log the engine reads
    failed_phase: str | None = None


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
    # the commit whose tree was built or tested (the last completed step's)
    commit_sha: str | None = None


class PushRequest(_Contract):
    ref: ExecutionRef
    fencing_token: int | None = None
    owner_id: str
    # the commit the tests passed on; push refuses anything else
    verified_commit: str | None = None


class PushResult(_Contract):
    result: DeliveryResult
    already_up_to_date: bool = False
    # the effective pull_request setting (repository default, execution override) asks for
    # a pull request: the workflow then calls deliver_pull_request (absent on old workers)
    pull_request_wanted: bool = False


class PullRequestRequest(_Contract):
    """Open (or bring up to date) the pull request of a pushed branch."""

    ref: ExecutionRef
    pushed: DeliveryResult


class PullRequestResult(_Contract):
    """The pushed branch's DeliveryResult with the pull request recorded in it."""

    result: DeliveryResult
    created: bool = False
    updated: bool = False
    # an open pull request from the branch that another execution opened (a follow-up's)
    adopted: bool = False
    notes: list[str] = Field(default_factory=list)


class CleanupRequest(_Contract):
    ref: ExecutionRef
    keep_warm: bool = True


class CancelRequest(_Contract):
    """The `cancel` signal: API, CLI and operators send a reason."""

    reason: str | None = None


class PlanDecision(_Contract):
    """The `approve_plan` update: approve or reject the stored plan."""

    approved: bool
    reason: str | None = None
    by: str | None = None


# Carryover and the start input name contracts defined further down.
Carryover.model_rebuild()
FeatureExecutionInput.model_rebuild()

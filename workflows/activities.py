"""The activities the workflow calls, as typed interfaces.

The workflow may not import the implementations (they pull pygit2, SQLAlchemy and the
sandbox into its sandbox), so each phase's activities are declared here, with their
contracts, and implemented by a subclass under `activities/phases/`. The workflow calls
`workflow.execute_activity_method(VerifyActivities.verify, ...)`: the type checker checks
arguments and results, go-to-definition lands here and "find implementations" on the one
class that does the work. Activity names are the method names; renaming one is a change to
running workflows (see docs/operations.md, "Changing the workflow").
"""

from __future__ import annotations

from temporalio import activity

from domain.contracts import (
    AdmissionRequest,
    AdmissionResult,
    AgentTurnRequest,
    AgentTurnResult,
    AnalysisResult,
    CleanupRequest,
    ExecutionRef,
    LockRequest,
    LockResult,
    PhaseRequest,
    PlanResult,
    PullRequestRequest,
    PullRequestResult,
    PushRequest,
    PushResult,
    RecordEventInput,
    RecordStateInput,
    RepairRequest,
    RepairResult,
    StepRequest,
    StepResult,
    StepsRequest,
    StepsResult,
    VerifyRequest,
    VerifyResult,
    WorkspaceResult,
)


class BookkeepingActivities:
    """State changes and workflow-level events (local activities: short Postgres writes)."""

    @activity.defn
    async def record_state(self, inp: RecordStateInput) -> None:
        raise NotImplementedError

    @activity.defn
    async def record_event(self, inp: RecordEventInput) -> None:
        raise NotImplementedError


class LockActivities:
    """The lease on (repository, feature branch), with a fencing token."""

    @activity.defn
    async def acquire_lock(self, inp: LockRequest) -> LockResult:
        raise NotImplementedError

    @activity.defn
    async def refresh_lock(self, inp: LockRequest) -> LockResult:
        raise NotImplementedError

    @activity.defn
    async def release_lock(self, inp: LockRequest) -> LockResult:
        raise NotImplementedError


class AdmissionActivities:
    """The tenant's concurrency limit: a slot asked for, waited for (FIFO) and held until
    the execution ends."""

    @activity.defn
    async def admit(self, inp: AdmissionRequest) -> AdmissionResult:
        raise NotImplementedError


class WorkspaceActivities:
    """The worktree on one worker: made (or rebuilt) at the start, given up at the end."""

    @activity.defn
    async def open_workspace(self, ref: ExecutionRef) -> WorkspaceResult:
        raise NotImplementedError

    @activity.defn
    async def cleanup(self, inp: CleanupRequest) -> None:
        raise NotImplementedError


class AnalysisActivities:
    @activity.defn
    async def analyze(self, ref: PhaseRequest) -> AnalysisResult:
        raise NotImplementedError


class PlanningActivities:
    @activity.defn
    async def plan(self, ref: PhaseRequest) -> PlanResult:
        raise NotImplementedError


class StepActivities:
    """Plan steps: each one's edits generated and stored, then applied and committed (the
    spec engine's declared steps all in one call)."""

    @activity.defn
    async def generate_step(self, inp: StepRequest) -> StepResult:
        raise NotImplementedError

    @activity.defn
    async def apply_step(self, inp: StepRequest) -> StepResult:
        raise NotImplementedError

    @activity.defn
    async def apply_steps(self, inp: StepsRequest) -> StepsResult:
        raise NotImplementedError


class AgentActivities:
    """The agent engine's conversation, one stored turn per call."""

    @activity.defn
    async def agent_turn(self, inp: AgentTurnRequest) -> AgentTurnResult:
        raise NotImplementedError


class RepairActivities:
    @activity.defn
    async def add_repair_step(self, inp: RepairRequest) -> RepairResult:
        raise NotImplementedError


class VerifyActivities:
    @activity.defn
    async def verify(self, inp: VerifyRequest) -> VerifyResult:
        raise NotImplementedError


class DeliveryActivities:
    @activity.defn
    async def push(self, inp: PushRequest) -> PushResult:
        raise NotImplementedError


class PullRequestActivities:
    """The pull request of a pushed branch, on the repository's forge (no worktree)."""

    @activity.defn
    async def deliver_pull_request(self, inp: PullRequestRequest) -> PullRequestResult:
        raise NotImplementedError


INTERFACES: tuple[type, ...] = (
    BookkeepingActivities,
    LockActivities,
    WorkspaceActivities,
    AnalysisActivities,
    PlanningActivities,
    StepActivities,
    AgentActivities,
    RepairActivities,
    VerifyActivities,
    DeliveryActivities,
    AdmissionActivities,
    PullRequestActivities,
)

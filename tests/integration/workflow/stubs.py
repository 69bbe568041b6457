"""Stubbed activities for testing FeatureExecutionWorkflow alone.

`Stubs` implements every interface of workflows/activities.py (so each stub is registered
under the real activity name), records every call with its attempt number, and does the
happy path unless a test overrides an activity with `on(name, handler)`. The workflow runs
on the real Temporal dev server with the production worker's sandbox runner; timings are
compressed through the run's WorkflowTimings (no time-skipping server can be downloaded
on these machines).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from builder.worker import workflow_runner
from domain.contracts import (
    WORKFLOW_NAME,
    AdmissionRequest,
    AdmissionResult,
    AgentTurnRequest,
    AgentTurnResult,
    AnalysisResult,
    CleanupRequest,
    ExecutionRef,
    FeatureExecutionInput,
    FeatureExecutionOutput,
    LockRequest,
    LockResult,
    PhaseRequest,
    PhaseTimeouts,
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
    WorkflowTimings,
    WorkspaceResult,
)
from domain.enums import StepType
from domain.values import DeliveryResult, ExecutionPlan, FeatureConstraints, PlanStep
from workflows.activities import (
    AdmissionActivities,
    AgentActivities,
    AnalysisActivities,
    BookkeepingActivities,
    DeliveryActivities,
    LockActivities,
    PlanningActivities,
    PullRequestActivities,
    RepairActivities,
    StepActivities,
    VerifyActivities,
    WorkspaceActivities,
)
from workflows.feature_execution import FeatureExecutionWorkflow

FAST = WorkflowTimings(
    lock_retry_every_s=0.2,
    lock_refresh_every_s=0.5,
    lock_refresh_grace_s=5,
    worker_affinity_wait_s=2,
    bookkeeping_give_up_s=5,
)

Handler = Callable[[Any, int], Awaitable[Any]]


@dataclass
class Call:
    name: str
    arg: Any
    attempt: int
    run_id: str
    result: Any = None


@dataclass
class Stubs(
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
):
    """Every activity, stubbed; `worktree_queue` is where open_workspace says it lives."""

    worktree_queue: str
    steps: int = 2
    # the agent engine's conversation: turn `agent_turns - 1` finishes it
    agent_turns: int = 3
    calls: list[Call] = field(default_factory=list)
    handlers: dict[str, Handler] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    # activities the worker does not register (as a worker from before them would not)
    unregistered: set[str] = field(default_factory=set)

    def on(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    def named(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def changes(self) -> list[RecordStateInput]:
        """Every state change recorded, in order: by record_state, or by the activity whose
        request carried it when its result says so (admit, analyze, plan, release_lock)."""
        changes = [
            c.arg if c.name == "record_state" else getattr(c.arg, "state", None)
            for c in self.calls
            if c.name == "record_state" or getattr(c.result, "state_recorded", False)
        ]
        return [change for change in changes if isinstance(change, RecordStateInput)]

    def states(self) -> list[str]:
        return [change.state.label for change in self.changes()]

    def events(self) -> list[str]:
        return [c.arg.event_type for c in self.named("record_event")]

    async def _do(self, name: str, arg: Any, default: Callable[[], Any]) -> Any:
        info = activity.info()
        attempt = info.attempt
        call = Call(name, arg, attempt, info.workflow_run_id or "")
        self.calls.append(call)
        handler = self.handlers.get(name)
        try:
            call.result = await handler(arg, attempt) if handler else default()
            return call.result
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise

    def activities(self) -> list[Callable[..., Any]]:
        names = [
            "record_state", "record_event", "acquire_lock", "refresh_lock", "release_lock",
            "open_workspace", "cleanup", "analyze", "plan", "generate_step", "apply_step",
            "apply_steps", "add_repair_step", "verify", "push", "admit", "deliver_pull_request",
            "agent_turn",
        ]  # fmt: skip
        return [getattr(self, n) for n in names if n not in self.unregistered]

    # -- the happy path ------------------------------------------------------------------

    @activity.defn
    async def record_state(self, inp: RecordStateInput) -> None:
        return await self._do("record_state", inp, lambda: None)

    @activity.defn
    async def record_event(self, inp: RecordEventInput) -> None:
        return await self._do("record_event", inp, lambda: None)

    @activity.defn
    async def acquire_lock(self, inp: LockRequest) -> LockResult:
        return await self._do(
            "acquire_lock", inp, lambda: LockResult(acquired=True, fencing_token=7, lock_key="k")
        )

    @activity.defn
    async def refresh_lock(self, inp: LockRequest) -> LockResult:
        return await self._do(
            "refresh_lock", inp, lambda: LockResult(acquired=True, fencing_token=7, lock_key="k")
        )

    @activity.defn
    async def release_lock(self, inp: LockRequest) -> LockResult:
        return await self._do(
            "release_lock",
            inp,
            lambda: LockResult(acquired=False, lock_key="k", state_recorded=inp.state is not None),
        )

    @activity.defn
    async def admit(self, inp: AdmissionRequest) -> AdmissionResult:
        return await self._do(
            "admit",
            inp,
            lambda: AdmissionResult(admitted=True, state_recorded=inp.state is not None),
        )

    @activity.defn
    async def open_workspace(self, ref: ExecutionRef) -> WorkspaceResult:
        return await self._do(
            "open_workspace",
            ref,
            lambda: WorkspaceResult(
                task_queue=self.worktree_queue, base_commit="b" * 40, feature_branch="feature"
            ),
        )

    @activity.defn
    async def cleanup(self, inp: CleanupRequest) -> None:
        return await self._do("cleanup", inp, lambda: None)

    @activity.defn
    async def analyze(self, ref: PhaseRequest) -> AnalysisResult:
        timeouts = PhaseTimeouts(setup_s=5, build_s=5, test_s=5)
        return await self._do(
            "analyze",
            ref,
            lambda: AnalysisResult(phase_timeouts=timeouts, state_recorded=ref.state is not None),
        )

    @activity.defn
    async def plan(self, ref: PhaseRequest) -> PlanResult:
        plan = ExecutionPlan(
            steps=[
                PlanStep(index=i, description=f"step {i}", type=StepType.MODIFY_FILE)
                for i in range(self.steps)
            ]
        )
        recorded = ref.state is not None
        return await self._do("plan", ref, lambda: PlanResult(plan=plan, state_recorded=recorded))

    @activity.defn
    async def generate_step(self, inp: StepRequest) -> StepResult:
        return await self._do("generate_step", inp, lambda: StepResult(step_index=inp.step_index))

    @activity.defn
    async def apply_step(self, inp: StepRequest) -> StepResult:
        return await self._do(
            "apply_step",
            inp,
            lambda: StepResult(step_index=inp.step_index, commit_sha=commit_of(inp.step_index)),
        )

    @activity.defn
    async def apply_steps(self, inp: StepsRequest) -> StepsResult:
        """Each declared step goes through `apply_step` (recorded, and failing where a test's
        handler says so, with the step's index in the details as the real batch does), then
        the batch is recorded itself."""
        applied: list[StepResult] = []
        for index in inp.step_indices:
            step = StepRequest(
                ref=inp.ref, step_index=index, commit_timestamp=inp.base_timestamp + index
            )
            try:
                applied.append(await self.apply_step(step))
            except ApplicationError as err:
                details = err.details[0] if err.details and isinstance(err.details[0], dict) else {}
                raise ApplicationError(
                    err.message, {**details, "step_index": index}, type=err.type,
                    non_retryable=err.non_retryable,
                ) from None  # fmt: skip
        return await self._do("apply_steps", inp, lambda: StepsResult(steps=applied))

    @activity.defn
    async def agent_turn(self, inp: AgentTurnRequest) -> AgentTurnResult:
        done = inp.turn_index >= self.agent_turns - 1
        return await self._do(
            "agent_turn", inp, lambda: AgentTurnResult(turn_index=inp.turn_index, finished=done)
        )

    @activity.defn
    async def add_repair_step(self, inp: RepairRequest) -> RepairResult:
        return await self._do(
            "add_repair_step",
            inp,
            lambda: RepairResult(step_index=inp.step_index, description="repair"),
        )

    @activity.defn
    async def verify(self, inp: VerifyRequest) -> VerifyResult:
        applied = [c.arg.step_index for c in self.named("apply_step")]
        head = commit_of(max(applied)) if applied else None
        return await self._do(
            "verify",
            inp,
            lambda: VerifyResult(phase=inp.phase, skipped=False, passed=True, commit_sha=head),
        )

    @activity.defn
    async def push(self, inp: PushRequest) -> PushResult:
        result = DeliveryResult(
            branch_name="feature",
            commit_sha=inp.verified_commit or "",
            commit_count=1,
            files_changed=1,
            lines_added=1,
            lines_removed=0,
        )
        return await self._do("push", inp, lambda: PushResult(result=result))

    @activity.defn
    async def deliver_pull_request(self, inp: PullRequestRequest) -> PullRequestResult:
        update = {"pull_request_url": "https://forge.example/pr/1", "pull_request_number": 1}
        result = inp.pushed.model_copy(update=update)
        return await self._do(
            "deliver_pull_request", inp, lambda: PullRequestResult(result=result, created=True)
        )


def commit_of(index: int) -> str:
    return f"{index:040x}"


async def blocked(arg: Any, attempt: int) -> Any:
    """A handler that runs until cancelled (heartbeating, so cancellation reaches it)."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(0.2)


@asynccontextmanager
async def stubbed_workers(
    client: Client, stubs: Stubs, *, shared_queue: str, serve_worktree: bool = True
) -> AsyncIterator[None]:
    """The shared queue (workflows, bookkeeping, open_workspace) and, unless told not to,
    the worktree queue, both served by the stubs, with the production sandbox runner."""
    common: dict[str, Any] = {"activities": stubs.activities()}
    shared = Worker(
        client,
        task_queue=shared_queue,
        workflows=[FeatureExecutionWorkflow],
        workflow_runner=workflow_runner(),
        **common,
    )
    workers = [shared]
    if serve_worktree:
        workers.append(Worker(client, task_queue=stubs.worktree_queue, **common))
    async with contextlib_all(workers):
        yield


@asynccontextmanager
async def contextlib_all(workers: list[Worker]) -> AsyncIterator[None]:
    if not workers:
        yield
        return
    async with workers[0], contextlib_all(workers[1:]):
        yield


async def start(
    client: Client,
    queue: str,
    *,
    engine: str = "spec",
    constraints: dict[str, Any] | None = None,
    wait_for_lock: bool = False,
    timings: WorkflowTimings = FAST,
) -> WorkflowHandle[Any, FeatureExecutionOutput]:
    """Start a run with fresh ids on `queue`."""
    inp = FeatureExecutionInput(
        execution_id=str(uuid.uuid4()),
        tenant_id=str(uuid.uuid4()),
        repository_id=str(uuid.uuid4()),
        title="a change",
        engine=engine,  # type: ignore[arg-type]
        constraints=FeatureConstraints.model_validate(constraints or {}),
        wait_for_lock=wait_for_lock,
        timings=timings,
    )
    return await client.start_workflow(
        WORKFLOW_NAME,
        inp,
        id=f"feature/test/{uuid.uuid4().hex}",
        task_queue=queue,
        result_type=FeatureExecutionOutput,
    )

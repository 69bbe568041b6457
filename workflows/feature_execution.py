"""FeatureExecutionWorkflow: the durable state machine of one feature execution.

It decides what happens next and nothing else: every side effect is an activity, called by
name, with ids (never contents, never credentials) as arguments.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from domain.enums import ErrorCode, FeatureState, StepType
    from domain.events import EventType
    from domain.values import ExecutionError, ExecutionPlan, ExecutionProgress, PlanStep
    from workflows import policies
    from workflows import search_attributes as sa
    from workflows.activity_names import Activity
    from workflows.contracts import (
        WORKFLOW_NAME,
        AnalysisResult,
        CleanupRequest,
        ExecutionRef,
        FeatureExecutionInput,
        FeatureExecutionOutput,
        LockRequest,
        LockResult,
        PlanResult,
        PushRequest,
        PushResult,
        RecordEventInput,
        RecordStateInput,
        RepairRequest,
        RepairResult,
        StepRequest,
        StepResult,
        VerifyRequest,
        VerifyResult,
        WorkspaceResult,
    )
    from workflows.decisions import CancelRequest, PlanDecision

R = TypeVar("R", bound=BaseModel)


class _Stop(Exception):
    """Ends the pipeline with a recorded ExecutionError."""

    def __init__(self, error: ExecutionError) -> None:
        super().__init__(error.message)
        self.error = error


@workflow.defn(name=WORKFLOW_NAME)
class FeatureExecutionWorkflow:
    """pending -> analyzing -> planning -> executing -> verifying -> completed/failed/cancelled."""

    def __init__(self) -> None:
        self._state = FeatureState.PENDING
        self._progress = ExecutionProgress()
        self._plan: ExecutionPlan | None = None
        self._awaiting_approval = False
        self._decision: PlanDecision | None = None
        self._cancel_reason: str | None = None
        self._pipeline: asyncio.Task[FeatureExecutionOutput] | None = None
        self._workspace: WorkspaceResult | None = None
        self._lock: LockResult | None = None
        self._ref: ExecutionRef | None = None
        self._engine = "spec"
        self._owner_id = ""
        self._last_event_id: str | None = None

    # ---- operator and client interface -------------------------------------------------

    @workflow.query
    def progress(self) -> ExecutionProgress:
        return self._progress

    @workflow.query
    def plan(self) -> ExecutionPlan | None:
        return self._plan

    @workflow.query
    def state(self) -> str:
        return self._state.label

    @workflow.signal
    def cancel(self, request: CancelRequest) -> None:
        """Cancel with a reason (API, CLI); same outcome as a Temporal cancel."""
        if self._cancel_reason is None:
            self._cancel_reason = request.reason or "cancelled"
        if self._pipeline is not None and not self._pipeline.done():
            self._pipeline.cancel()

    @workflow.update
    async def approve_plan(self, decision: PlanDecision) -> str:
        self._decision = decision
        self._awaiting_approval = False
        return "approved" if decision.approved else "rejected"

    @approve_plan.validator
    def _validate_decision(self, decision: PlanDecision) -> None:
        if not self._awaiting_approval:
            raise ApplicationError(
                f"the execution is not waiting for plan approval (state {self._state.label})",
                type=ErrorCode.INVALID_INPUT.value,
            )

    # ---- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: FeatureExecutionInput) -> FeatureExecutionOutput:
        self._ref = ExecutionRef(execution_id=inp.execution_id, tenant_id=inp.tenant_id)
        self._engine = inp.engine
        self._owner_id = f"{workflow.info().workflow_id}/{workflow.info().run_id}"
        workflow.upsert_search_attributes(
            [
                sa.TENANT.value_set(inp.tenant_id),
                sa.REPOSITORY.value_set(inp.repository_id),
                sa.STATE.value_set(self._state.label),
            ]
        )
        self._pipeline = asyncio.create_task(self._execute(inp))
        timeout = inp.constraints.timeout_minutes
        outcome: FeatureExecutionOutput
        native_cancel = False
        try:
            if timeout:
                outcome = await asyncio.wait_for(
                    asyncio.shield(self._pipeline), timeout=timeout * 60
                )
            else:
                outcome = await asyncio.shield(self._pipeline)
        except builtins.TimeoutError:
            await self._stop_pipeline()
            outcome = self._failed(
                ExecutionError(
                    code=ErrorCode.TIMEOUT,
                    message=f"the execution exceeded its timeout of {timeout} minutes",
                    failed_step=self._current_step(),
                )
            )
        except asyncio.CancelledError:
            # a Temporal cancel (UI, CLI): the shield kept the pipeline; stop it cleanly
            native_cancel = self._cancel_reason is None
            self._cancel_reason = self._cancel_reason or "cancelled through Temporal"
            await self._stop_pipeline()
            outcome = self._cancelled()
        except _Stop as stop:
            outcome = self._failed(stop.error)
        except ActivityError as err:
            outcome = self._failed(self._error_of(err))

        await self._finish(outcome)
        if native_cancel:
            raise asyncio.CancelledError()
        if outcome.error is not None and outcome.state == FeatureState.FAILED.label:
            raise ApplicationError(
                outcome.error.message,
                outcome.error.model_dump(mode="json"),
                type=outcome.error.code.value,
                non_retryable=True,
            )
        return outcome

    async def _stop_pipeline(self) -> None:
        if self._pipeline is None or self._pipeline.done():
            return
        self._pipeline.cancel()
        # the pipeline's own outcome is superseded by the timeout or cancel
        with contextlib.suppress(BaseException):
            await self._pipeline

    async def _execute(self, inp: FeatureExecutionInput) -> FeatureExecutionOutput:
        if self._cancel_reason is not None:
            # cancelled before the run began (e.g. while no worker was up)
            return self._cancelled()
        try:
            return await self._stages(inp)
        except (asyncio.CancelledError, ActivityError, _Stop):
            # a cancelled activity surfaces as an ActivityError (or a _Stop wrapping one)
            if self._cancel_reason is not None:
                return self._cancelled()
            raise

    async def _stages(self, inp: FeatureExecutionInput) -> FeatureExecutionOutput:
        assert self._ref is not None
        ref = self._ref
        await self._transition(FeatureState.ANALYZING)
        self._lock = await self._acquire_lock(inp)
        refresher = asyncio.create_task(self._refresh_lock_forever())
        try:
            self._workspace = await self._open_workspace()
            await self._on_worktree(
                Activity.ANALYZE,
                ref,
                AnalysisResult,
                policies.STEP_TIMEOUT,
                "analyze the repository",
            )

            await self._transition(FeatureState.PLANNING)
            planned = await self._on_worktree(
                Activity.PLAN, ref, PlanResult, policies.STEP_TIMEOUT, "plan the change"
            )
            self._plan = planned.plan
            self._set_progress(0, 0, None)
            if inp.constraints.require_plan_approval:
                await self._await_approval()

            await self._transition(FeatureState.EXECUTING)
            for step in self._plan.steps:
                await self._run_step(step.index, step.description)

            await self._transition(FeatureState.VERIFYING)
            await self._verify_with_repairs(inp)

            result = await self._on_worktree(
                Activity.PUSH,
                PushRequest(
                    ref=ref, fencing_token=self._lock.fencing_token, owner_id=self._owner_id
                ),
                PushResult,
                policies.PUSH_TIMEOUT,
                "push the feature branch",
            )
            return FeatureExecutionOutput(state=FeatureState.COMPLETED.label, result=result.result)
        finally:
            refresher.cancel()

    # ---- stages -----------------------------------------------------------------------------

    async def _acquire_lock(self, inp: FeatureExecutionInput) -> LockResult:
        assert self._ref is not None
        while True:
            lock = await self._bookkeeping(
                Activity.ACQUIRE_LOCK,
                LockRequest(ref=self._ref, owner_id=self._owner_id),
                LockResult,
            )
            if lock.acquired:
                return lock
            if not inp.wait_for_lock:
                raise _Stop(
                    ExecutionError(
                        code=ErrorCode.INVALID_INPUT,
                        message=(
                            f"another execution ({lock.holder_execution_id}) holds the lock "
                            f"{lock.lock_key}; retry when it ends"
                        ),
                        details={"lock_key": lock.lock_key, "holder": lock.holder_execution_id},
                        retryable=True,
                    )
                )
            await workflow.sleep(policies.LOCK_RETRY_EVERY)

    async def _refresh_lock_forever(self) -> None:
        assert self._ref is not None and self._lock is not None
        while True:
            await workflow.sleep(policies.LOCK_REFRESH_EVERY)
            await self._bookkeeping(
                Activity.REFRESH_LOCK,
                LockRequest(
                    ref=self._ref, owner_id=self._owner_id, fencing_token=self._lock.fencing_token
                ),
                LockResult,
            )

    async def _open_workspace(self) -> WorkspaceResult:
        assert self._ref is not None
        return await workflow.execute_activity(
            Activity.OPEN_WORKSPACE,
            self._ref,
            result_type=WorkspaceResult,
            start_to_close_timeout=policies.CLONE_TIMEOUT,
            heartbeat_timeout=policies.HEARTBEAT,
            retry_policy=policies.WORKTREE_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary="clone and check out the target branch",
        )

    async def _await_approval(self) -> None:
        assert self._ref is not None
        self._awaiting_approval = True
        await self._event(
            EventType.PLAN_APPROVAL_REQUESTED, {"steps": len(self._plan.steps) if self._plan else 0}
        )
        workflow.set_current_details("**waiting for plan approval** (update `approve_plan`)")
        await workflow.wait_condition(lambda: self._decision is not None)
        decision = self._decision
        assert decision is not None
        if decision.approved:
            await self._event(
                EventType.PLAN_APPROVED, {"by": decision.by, "reason": decision.reason}
            )
            return
        await self._event(EventType.PLAN_REJECTED, {"by": decision.by, "reason": decision.reason})
        self._cancel_reason = f"plan rejected: {decision.reason or 'no reason given'}"
        raise asyncio.CancelledError()

    async def _run_step(self, index: int, description: str) -> StepResult:
        assert self._ref is not None and self._plan is not None
        total = len(self._plan.steps)
        self._set_progress(total, self._progress.completed_steps, index, description)
        request = StepRequest(
            ref=self._ref,
            step_index=index,
            # same timestamp on every attempt and replay: the commit SHA is repeatable
            commit_timestamp=int(workflow.info().start_time.timestamp()) + index,
        )
        if self._engine != "spec":
            # a model call is worth its own activity (retries, timeout, cost in the UI); the
            # spec engine's edits are computed by apply_step itself, saving a round trip
            await self._on_worktree(
                Activity.GENERATE_STEP,
                request,
                StepResult,
                policies.STEP_TIMEOUT,
                f"step {index}: generate — {description[:60]}",
            )
        result = await self._on_worktree(
            Activity.APPLY_STEP,
            request,
            StepResult,
            policies.STEP_TIMEOUT,
            f"step {index}: apply — {description[:60]}",
        )
        self._set_progress(total, self._progress.completed_steps + 1, index, description)
        return result

    async def _verify_with_repairs(self, inp: FeatureExecutionInput) -> None:
        assert self._ref is not None and self._plan is not None
        while True:
            try:
                for phase in ("build", "test"):
                    await self._on_worktree(
                        Activity.VERIFY,
                        VerifyRequest(ref=self._ref, phase=phase),
                        VerifyResult,
                        policies.VERIFY_TIMEOUT,
                        f"run the {phase}",
                    )
                return
            except ActivityError as err:
                error = self._error_of(err)
                limit = inp.constraints.max_steps or 50
                repairable = error.code in (ErrorCode.BUILD_FAILED, ErrorCode.TEST_FAILED)
                if inp.engine != "llm" or not repairable or len(self._plan.steps) >= limit:
                    raise _Stop(error) from err
                repair = await self._on_worktree(
                    Activity.ADD_REPAIR_STEP,
                    RepairRequest(
                        ref=self._ref, failure_code=error.code, failure_message=error.message
                    ),
                    RepairResult,
                    policies.STEP_TIMEOUT,
                    "plan a repair",
                )
                if repair.step_index is None:
                    raise _Stop(error) from err
                self._plan.steps.append(
                    PlanStep(
                        index=repair.step_index,
                        description=repair.description or "repair",
                        type=StepType.REFACTOR,
                    )
                )
                await self._transition(FeatureState.EXECUTING)
                await self._run_step(repair.step_index, repair.description or "repair")
                await self._transition(FeatureState.VERIFYING)

    # ---- endings ----------------------------------------------------------------------------

    def _failed(self, error: ExecutionError) -> FeatureExecutionOutput:
        return FeatureExecutionOutput(state=FeatureState.FAILED.label, error=error)

    def _cancelled(self) -> FeatureExecutionOutput:
        return FeatureExecutionOutput(
            state=FeatureState.CANCELLED.label,
            error=ExecutionError(
                code=ErrorCode.CANCELLED, message=self._cancel_reason or "cancelled"
            ),
        )

    async def _finish(self, outcome: FeatureExecutionOutput) -> None:
        """Always: clean up (lock, worktree), then the final state, event and completed_at."""
        assert self._ref is not None
        if self._workspace is not None:
            try:
                await workflow.execute_activity(
                    Activity.CLEANUP,
                    CleanupRequest(
                        ref=self._ref, keep_warm=outcome.state == FeatureState.COMPLETED.label
                    ),
                    task_queue=self._workspace.task_queue,
                    start_to_close_timeout=timedelta(minutes=5),
                    schedule_to_start_timeout=policies.WORKER_AFFINITY_WAIT,
                    retry_policy=RetryPolicy(maximum_attempts=5),
                    summary="keep the partial patch, remove the worktree",
                )
            except ActivityError:
                workflow.logger.warning(
                    "cleanup failed; the purge schedule removes orphaned worktrees"
                )
        if self._lock is not None and self._lock.acquired:
            await self._bookkeeping(
                Activity.RELEASE_LOCK,
                LockRequest(
                    ref=self._ref, owner_id=self._owner_id, fencing_token=self._lock.fencing_token
                ),
                LockResult,
            )
        state = FeatureState.from_label(outcome.state)
        await self._transition(state, error=outcome.error, result=outcome.result)

    # ---- plumbing ---------------------------------------------------------------------------

    async def _transition(self, state: FeatureState, **extra: Any) -> None:
        assert self._ref is not None
        event_id = str(workflow.uuid4())
        await self._bookkeeping(
            Activity.RECORD_STATE,
            RecordStateInput(
                ref=self._ref,
                state=state,
                event_id=event_id,
                causation_id=self._last_event_id,
                reason=self._cancel_reason if state == FeatureState.CANCELLED else None,
                progress=self._progress,
                **extra,
            ),
            None,
        )
        self._last_event_id = event_id
        self._state = state
        workflow.upsert_search_attributes([sa.STATE.value_set(state.label)])
        self._show_details()

    async def _event(self, event_type: EventType, payload: dict[str, Any]) -> None:
        assert self._ref is not None
        await self._bookkeeping(
            Activity.RECORD_EVENT,
            RecordEventInput(
                ref=self._ref,
                event_id=str(workflow.uuid4()),
                event_type=event_type.value,
                payload=payload,
            ),
            None,
        )

    async def _bookkeeping(
        self, name: Activity, arg: BaseModel, result_type: type[R] | None
    ) -> Any:
        """State, events and locks: short Postgres writes, run as local activities so they
        cost no round trip through the server (they are still recorded and retried)."""
        return await workflow.execute_local_activity(
            name,
            arg,
            result_type=result_type,
            summary=name.value.replace("_", " "),
            start_to_close_timeout=policies.BOOKKEEPING_TIMEOUT,
            retry_policy=policies.BOOKKEEPING_RETRY,
        )

    async def _on_worktree(
        self, name: Activity, arg: BaseModel, result_type: type[R], limit: timedelta, summary: str
    ) -> R:
        """Run on the worker holding the worktree; if it is gone, move the worktree."""
        for _ in range(3):
            assert self._workspace is not None
            try:
                return await workflow.execute_activity(
                    name,
                    arg,
                    result_type=result_type,
                    task_queue=self._workspace.task_queue,
                    start_to_close_timeout=limit,
                    schedule_to_start_timeout=policies.WORKER_AFFINITY_WAIT,
                    heartbeat_timeout=policies.HEARTBEAT,
                    retry_policy=policies.WORKTREE_RETRY,
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=summary,
                )
            except ActivityError as err:
                if not _worker_gone(err):
                    raise
                workflow.logger.warning(
                    "worker %s is gone; rebuilding the worktree elsewhere",
                    self._workspace.task_queue,
                )
                self._workspace = await self._open_workspace()
        raise _Stop(
            ExecutionError(code=ErrorCode.INTERNAL, message="no worker could hold the worktree")
        )

    def _error_of(self, err: ActivityError) -> ExecutionError:
        cause = err.cause
        if isinstance(cause, ApplicationError):
            try:
                code = ErrorCode(cause.type) if cause.type else ErrorCode.INTERNAL
            except ValueError:
                code = ErrorCode.INTERNAL
            details = (
                cause.details[0] if cause.details and isinstance(cause.details[0], dict) else None
            )
            return ExecutionError(
                code=code,
                message=cause.message,
                details=details,
                retryable=not cause.non_retryable,
                failed_step=self._current_step(),
            )
        if isinstance(cause, TimeoutError):
            return ExecutionError(
                code=ErrorCode.TIMEOUT,
                message=f"activity timed out ({cause.type})",
                failed_step=self._current_step(),
            )
        return ExecutionError(
            code=ErrorCode.INTERNAL, message=str(cause or err), failed_step=self._current_step()
        )

    def _current_step(self) -> int | None:
        return self._progress.current_step if self._state == FeatureState.EXECUTING else None

    def _set_progress(
        self, total: int, completed: int, current: int | None, description: str | None = None
    ) -> None:
        total = total or (len(self._plan.steps) if self._plan else 0)
        self._progress = ExecutionProgress.of(total, completed, current or 0, description)
        self._show_details()

    def _show_details(self) -> None:
        p = self._progress
        lines = [f"**{self._state.label}**"]
        if p.total_steps:
            lines.append(f"step {p.completed_steps}/{p.total_steps} ({p.percent_complete:.0f}%)")
            if p.current_step_description:
                lines.append(f"current: {p.current_step_description}")
        workflow.set_current_details("  \n".join(lines))


def _worker_gone(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START

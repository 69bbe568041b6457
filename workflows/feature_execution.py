"""FeatureExecutionWorkflow: the durable state machine of one feature execution.

It decides what happens next and nothing else: every side effect is an activity, called
through its typed interface (workflows/activities.py) with ids, never contents or
credentials. Only `domain` and third-party modules pass through the workflow sandbox; this
package is re-imported in it, so the sandbox's determinism checks cover it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from datetime import timedelta
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

from domain.contracts import (
    WORKFLOW_NAME,
    AnalysisResult,
    CancelRequest,
    Carryover,
    CarryStage,
    ExecutionRef,
    FeatureExecutionInput,
    FeatureExecutionOutput,
    PhaseRequest,
    PhaseTimeouts,
    PlanDecision,
    PlanResult,
    PushRequest,
    RecordStateInput,
    RepairRequest,
    VerifyRequest,
)
from domain.enums import ErrorCode, FeatureState, StepType
from domain.values import ExecutionError, ExecutionPlan, ExecutionProgress, PlanStep
from workflows import policies
from workflows import search_attributes as sa
from workflows.activities import (
    AnalysisActivities,
    DeliveryActivities,
    PlanningActivities,
    RepairActivities,
    VerifyActivities,
)
from workflows.admission import AdmissionWait
from workflows.agent import declare_tasks, resumed_at
from workflows.approval import ApprovalGate
from workflows.calls import Worktree
from workflows.failures import Stop, cancelled, error_of, failed
from workflows.journal import CARRIED_STATE, Journal, verify_or_skip
from workflows.lease import Lease
from workflows.patches import (
    AGENT_TASKS,
    PULL_REQUEST_DELIVERY,
    TENANT_CONCURRENCY_LIMIT,
    applied,
    baseline,
)
from workflows.pull_requests import deliver_pull_request
from workflows.steps import StepRunner


def _started_with(updates: list[SearchAttributeUpdate[Any]]) -> bool:
    """Whether the run's start set these search attributes to these values already (the
    API's start does), so upserting them would only cost the server an event."""
    started = workflow.info().typed_search_attributes
    return all(started.get(u.key) == u.value for u in updates)


class _ContinueAsNew(Exception):
    """Raised in the pipeline to hand the run over; run() continues as new once the
    pipeline has stopped, so no other command can follow."""

    def __init__(self, inp: FeatureExecutionInput) -> None:
        super().__init__("continue as new")
        self.inp = inp


@workflow.defn(name=WORKFLOW_NAME)
class FeatureExecutionWorkflow:
    """pending -> analyzing -> planning -> executing -> verifying -> completed/failed/cancelled."""

    @workflow.init
    def __init__(self, inp: FeatureExecutionInput) -> None:
        info = workflow.info()
        carry = inp.carry
        self._inp = inp
        self._ref = ExecutionRef(execution_id=inp.execution_id, tenant_id=inp.tenant_id)
        self._carry = carry
        self._started_at = carry.started_at if carry else info.start_time
        owner = carry.owner_id if carry else f"{info.workflow_id}/{info.run_id}"
        timings = inp.timings
        self._lease = Lease(self._ref, timings, owner, carry.lock if carry else None)
        self._worktree = Worktree(self._ref, timings, carry.workspace if carry else None)
        self._timeouts = (carry.phase_timeouts if carry else None) or PhaseTimeouts()
        state = CARRIED_STATE[carry.stage] if carry else FeatureState.PENDING
        self._journal = Journal(self._ref, timings, state, carry.last_event_id if carry else None)
        self._plan: ExecutionPlan | None = None
        self._verify_needed = True  # a continued run did not keep the analysis: verify
        self._approval = ApprovalGate(
            timings, open_now=carry is not None and carry.stage == "approval"
        )
        self._cancel_reason: str | None = None
        self._lease_lost: ExecutionError | None = None
        self._admission = AdmissionWait(self._ref, timings)
        self._steps = StepRunner(
            self._ref, inp.engine, self._worktree, self._journal, self._started_at, carry,
            timings, self._continue_as_new,
        )  # fmt: skip
        self._pipeline: asyncio.Task[FeatureExecutionOutput] | None = None

    # ---- operator and client interface -------------------------------------------------

    @workflow.query
    def progress(self) -> ExecutionProgress:
        return self._journal.progress

    @workflow.query
    def plan(self) -> ExecutionPlan | None:
        return self._plan

    @workflow.query
    def state(self) -> str:
        return self._journal.state.label

    @workflow.signal
    def cancel(self, request: CancelRequest) -> None:
        """Cancel with a reason (API, CLI); same outcome as a Temporal cancel."""
        if self._cancel_reason is None:
            self._cancel_reason = request.reason or "cancelled"
        if self._pipeline is not None and not self._pipeline.done():
            self._pipeline.cancel()

    @workflow.update
    async def approve_plan(self, decision: PlanDecision) -> str:
        self._approval.decide(decision)
        return "approved" if decision.approved else "rejected"

    @approve_plan.validator
    def _validate_decision(self, decision: PlanDecision) -> None:
        if not self._approval.awaiting:
            state = self._journal.state.label
            raise ApplicationError(
                f"the execution is not waiting for plan approval (state {state})",
                type=ErrorCode.INVALID_INPUT.value,
            )

    # ---- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: FeatureExecutionInput) -> FeatureExecutionOutput:
        wanted = [
            sa.TENANT.value_set(inp.tenant_id),
            sa.REPOSITORY.value_set(inp.repository_id),
            sa.STATE.value_set(self._journal.state.label),
        ]
        # first, so every run (a continued one too) records its baseline at its first task,
        # where a replay asks for it again (workflows.patches)
        on_baseline = bool(baseline())
        if inp.carry is None and not (on_baseline and _started_with(wanted)):
            workflow.upsert_search_attributes(wanted)
        self._pipeline = asyncio.create_task(self._execute())
        timeout = inp.constraints.timeout_minutes
        outcome: FeatureExecutionOutput
        native_cancel = False
        try:
            if timeout:
                # anchored at the first run's start: a continued run does not get a new budget
                deadline = self._started_at + timedelta(minutes=timeout)
                remaining = max((deadline - workflow.now()).total_seconds(), 0.001)
                outcome = await asyncio.wait_for(asyncio.shield(self._pipeline), remaining)
            else:
                outcome = await asyncio.shield(self._pipeline)
        except builtins.TimeoutError:
            await self._stop_pipeline()
            outcome = failed(
                ExecutionError(
                    code=ErrorCode.TIMEOUT,
                    message=f"the execution exceeded its timeout of {timeout} minutes",
                    failed_step=self._journal.current_step(),
                )
            )
        except asyncio.CancelledError:
            # a Temporal cancel (UI, CLI): the shield kept the pipeline; stop it cleanly
            native_cancel = self._cancel_reason is None
            self._cancel_reason = self._cancel_reason or "cancelled through Temporal"
            await self._stop_pipeline()
            outcome = cancelled(self._cancel_reason)
        except _ContinueAsNew as handover:
            # the pipeline has stopped; nothing is cleaned up, the next run carries on
            workflow.continue_as_new(handover.inp)
        except Stop as stop:
            outcome = failed(stop.error)
        except (ActivityError, ApplicationError) as err:
            outcome = failed(error_of(err, self._journal.current_step()))

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

    async def _execute(self) -> FeatureExecutionOutput:
        if self._cancel_reason is not None:
            # cancelled before the run began (e.g. while no worker was up)
            return cancelled(self._cancel_reason)
        try:
            return await self._stages()
        except (asyncio.CancelledError, ActivityError, ApplicationError, Stop):
            # a cancelled activity surfaces as an ActivityError (or a Stop wrapping one)
            if self._lease_lost is not None:
                return failed(self._lease_lost)
            if self._cancel_reason is not None:
                return cancelled(self._cancel_reason)
            raise

    async def _stages(self) -> FeatureExecutionOutput:
        carry = self._carry
        starting = carry is None or carry.stage == "admission"
        if starting and applied(TENANT_CONCURRENCY_LIMIT):
            # beyond the tenant's limit the run waits here, still pending, in FIFO order
            await self._journal.carried(FeatureState.ANALYZING, lambda s: self._admission.wait(
                self._journal, lambda: self._continue_as_new("admission"), s
            ))  # fmt: skip
        elif starting:
            await self._journal.transition(FeatureState.ANALYZING)
        if starting or (carry is not None and carry.stage == "lock_wait"):
            await self._lease.acquire(
                wait=self._inp.wait_for_lock,
                continue_as_new=lambda: self._continue_as_new("lock_wait"),
            )
        refresher = asyncio.create_task(self._lease.keep(self._on_lease_lost))
        try:
            approval = self._inp.constraints.require_plan_approval
            if carry is not None and carry.stage in ("approval", "agent", "agent_tasks"):
                plan = (await self._planned(declare=carry.stage == "agent_tasks")).plan
                if carry.stage == "approval" or (carry.stage == "agent_tasks" and approval):
                    await self._await_approval(already_requested=carry.approval_requested)
            else:
                await self._worktree.open()
                analysis = await self._journal.carried(FeatureState.PLANNING, self._analyzed)
                self._timeouts = analysis.phase_timeouts
                self._verify_needed = analysis.verify_needed
                agent = self._inp.engine == "agent" and applied(AGENT_TASKS)
                if not approval:  # the plan is recorded with the change to executing
                    plan = (await self._journal.carried(
                        FeatureState.EXECUTING, lambda s: self._planned(declare=agent, state=s)
                    )).plan  # fmt: skip
                else:
                    plan = (await self._planned(declare=agent)).plan
                    await self._await_approval(already_requested=False)
            if self._journal.state != FeatureState.EXECUTING:  # not an agent's continued run
                await self._journal.transition(FeatureState.EXECUTING)
            await self._steps.run_all(plan, plan.steps[max(resumed_at(carry)[0], 0) :])

            verified = await verify_or_skip(
                self._journal, self._verify_needed, lambda: self._verify_with_repairs(plan)
            )

            held = self._lease.held
            pushed = await self._worktree.call(
                DeliveryActivities.push,
                PushRequest(ref=self._ref, fencing_token=held.fencing_token if held else None,
                            owner_id=self._lease.owner_id, verified_commit=verified),
                policies.PUSH_TIMEOUT, "push the feature branch",
            )  # fmt: skip
            if pushed.pull_request_wanted and applied(PULL_REQUEST_DELIVERY):
                return await deliver_pull_request(self._ref, pushed.result, stopping=self._stopping)
            return FeatureExecutionOutput(state=FeatureState.COMPLETED.label, result=pushed.result)
        except _ContinueAsNew:
            # settle the refresher first: a continue-as-new must be the run's last command
            refresher.cancel()
            await workflow.wait([refresher])
            raise
        finally:
            refresher.cancel()

    # ---- stages -----------------------------------------------------------------------------

    async def _analyzed(self, state: RecordStateInput | None) -> AnalysisResult:
        request = PhaseRequest.of(self._ref, state)
        return await self._worktree.call(
            AnalysisActivities.analyze, request, policies.STEP_TIMEOUT, "analyze the repository"
        )

    async def _planned(
        self, *, declare: bool = False, state: RecordStateInput | None = None
    ) -> PlanResult:
        """The plan, made once (after the agent's declaring turns if `declare`), with `state`."""
        if declare:
            await declare_tasks(self._worktree, self._ref, int(self._started_at.timestamp()),
                                self._carry, self._inp.timings, self._continue_as_new)  # fmt: skip
        planned = await self._worktree.call(
            PlanningActivities.plan, PhaseRequest.of(self._ref, state), policies.STEP_TIMEOUT,
            "plan the change",
        )  # fmt: skip
        self._plan = planned.plan
        self._journal.set_progress(len(planned.plan.steps), 0, None)
        return planned

    def _stopping(self) -> bool:
        return self._cancel_reason is not None or self._lease_lost is not None

    def _on_lease_lost(self, error: ExecutionError) -> None:
        self._lease_lost = error
        if self._pipeline is not None and not self._pipeline.done():
            self._pipeline.cancel()

    async def _await_approval(self, *, already_requested: bool) -> None:
        limit = self._inp.constraints.plan_approval_timeout_minutes
        decision = await self._approval.ask(
            self._journal, len(self._plan.steps) if self._plan else 0,
            already_requested=already_requested, limit_minutes=limit,
            deadline=self._started_at + timedelta(minutes=limit) if limit else None,
            continue_as_new=lambda: self._continue_as_new("approval"),
        )  # fmt: skip
        if not decision.approved:
            self._cancel_reason = f"plan rejected: {decision.reason or 'no reason given'}"
            raise asyncio.CancelledError()

    def _continue_as_new(self, stage: CarryStage, agent_at: tuple[int, int] = (0, 0)) -> NoReturn:
        """Hand the run to a fresh history; the lease, worktree and plan carry over."""
        carry = Carryover(
            stage=stage,
            owner_id=self._lease.owner_id,
            started_at=self._started_at,
            lock=self._lease.held,
            workspace=self._worktree.workspace,
            phase_timeouts=self._timeouts,
            last_event_id=self._journal.last_event_id,
            approval_requested=stage == "approval",
            agent_step=agent_at[0],
            agent_turn=agent_at[1],
        )
        raise _ContinueAsNew(self._inp.model_copy(update={"carry": carry}))

    async def _verify_with_repairs(self, plan: ExecutionPlan) -> str | None:
        """Build and test; with the llm engine, a failure becomes a repair step and another
        round. Returns the commit the tests passed on."""
        limit = self._inp.constraints.max_steps or 50
        while True:
            try:
                verified: str | None = None
                for phase in ("build", "test"):
                    result = await self._worktree.call(
                        VerifyActivities.verify,
                        VerifyRequest(ref=self._ref, phase=phase),
                        timedelta(seconds=self._timeouts.verify_limit(phase)),
                        f"run the {phase}",
                        retry=policies.VERIFY_RETRY,
                    )
                    verified = result.commit_sha
                return verified
            except ActivityError as err:
                error = error_of(err, self._journal.current_step())
                repairable = error.code in (ErrorCode.BUILD_FAILED, ErrorCode.TEST_FAILED)
                if self._inp.engine != "llm" or not repairable or len(plan.steps) >= limit:
                    raise Stop(error) from err
                failed_phase = (error.details or {}).get("phase")
                repair = await self._worktree.call(
                    RepairActivities.add_repair_step,
                    RepairRequest(
                        ref=self._ref,
                        failure_code=error.code,
                        failure_message=error.message,
                        step_index=len(plan.steps),
                        failed_phase=failed_phase if isinstance(failed_phase, str) else None,
                    ),
                    policies.STEP_TIMEOUT,
                    "plan a repair",
                )
                if repair.step_index is None:
                    raise Stop(error) from err
                description = repair.description or "repair"
                plan.steps.append(
                    PlanStep(
                        index=repair.step_index, description=description, type=StepType.REFACTOR
                    )
                )
                await self._journal.transition(FeatureState.EXECUTING)
                await self._steps.run(plan, repair.step_index, description)
                await self._journal.transition(FeatureState.VERIFYING)

    # ---- endings ----------------------------------------------------------------------------

    async def _finish(self, outcome: FeatureExecutionOutput) -> None:
        """Always: clean up (lock, worktree), then the final state, event and completed_at."""
        await self._worktree.release(keep_warm=outcome.state == FeatureState.COMPLETED.label)
        state = FeatureState.from_label(outcome.state)
        reason = self._cancel_reason if state == FeatureState.CANCELLED else None
        await self._journal.carried(
            state, self._lease.release, error=outcome.error, result=outcome.result, reason=reason
        )

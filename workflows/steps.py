"""Running the plan's steps: one activity per step, except the spec engine's declared steps,
which all go in one.

Declared edits are computed, not asked of a model, so nothing between two of them needs the
workflow: an activity each would only add a round trip through the server, the largest
share of a spec run's steps. The batch still gives each step its own commit, rows and
events; the workflow's progress moves once it returns, or to the step it failed at (named
in the failure's details, or for a batch that timed out between two steps the one after
the last step its heartbeat reported applied). A worker from before apply_steps does not
register it: the steps then go one activity each, as they did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NoReturn

from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeout

from domain.contracts import (
    Carryover,
    CarryStage,
    ExecutionRef,
    StepRequest,
    StepsRequest,
    WorkflowTimings,
)
from domain.values import ExecutionPlan, PlanStep
from workflows import policies
from workflows.activities import StepActivities
from workflows.agent import agent_conversation
from workflows.calls import Worktree
from workflows.journal import Journal
from workflows.patches import AGENT_ENGINE, SPEC_STEPS_TOGETHER, applied


class StepRunner:
    """Applies steps through the worktree's worker, keeping the journal's progress."""

    def __init__(
        self,
        ref: ExecutionRef,
        engine: str,
        worktree: Worktree,
        journal: Journal,
        started_at: datetime,
        carry: Carryover | None,
        timings: WorkflowTimings,
        hand_over: Callable[[CarryStage, tuple[int, int]], NoReturn],
    ) -> None:
        self._ref = ref
        self._engine = engine
        self._worktree = worktree
        self._journal = journal
        # step i commits at this + i, on every attempt and replay: its SHA is repeatable
        self._stamp = int(started_at.timestamp())
        self._carry = carry
        self._timings = timings
        self._hand_over = hand_over

    async def run_all(self, plan: ExecutionPlan, steps: Sequence[PlanStep]) -> None:
        """The plan's remaining `steps`, in order."""
        if steps and self._engine == "spec" and applied(SPEC_STEPS_TOGETHER):
            await self._declared(plan, steps)
            return
        for step in steps:
            await self.run(plan, step.index, step.description)

    async def run(self, plan: ExecutionPlan, index: int, description: str) -> None:
        """One step (a repair step too): the agent's conversation, or generate then apply."""
        total = len(plan.steps)
        done = self._journal.progress.completed_steps
        self._journal.set_progress(total, done, index, description)
        request = StepRequest(ref=self._ref, step_index=index, commit_timestamp=self._stamp + index)
        if self._engine == "agent" and applied(AGENT_ENGINE):
            await agent_conversation(
                self._worktree, self._ref, request, description, self._carry, self._timings,
                self._hand_over,
            )  # fmt: skip
        elif self._engine != "spec":
            # a model call is worth its own activity (retries, timeout, cost in the UI)
            await self._worktree.call(
                StepActivities.generate_step, request, policies.STEP_TIMEOUT,
                f"step {index}: generate — {description[:60]}",
            )  # fmt: skip
        await self._worktree.call(
            StepActivities.apply_step, request, policies.STEP_TIMEOUT,
            f"step {index}: apply — {description[:60]}",
        )  # fmt: skip
        self._journal.set_progress(total, done + 1, index, description)

    async def _declared(self, plan: ExecutionPlan, steps: Sequence[PlanStep]) -> None:
        total = len(plan.steps)
        done = self._journal.progress.completed_steps
        first, last = steps[0], steps[-1]
        self._journal.set_progress(total, done, first.index, first.description)
        span = f"{first.index}" if first is last else f"{first.index}-{last.index}"
        request = StepsRequest(
            ref=self._ref,
            step_indices=[s.index for s in steps],
            base_timestamp=self._stamp,
            step_timeout_s=policies.STEP_TIMEOUT.total_seconds(),
        )
        try:
            await self._worktree.call(
                StepActivities.apply_steps, request, policies.STEP_TIMEOUT * len(steps),
                f"steps {span}: apply {len(steps)} declared change(s)",
                retry=policies.BATCH_RETRY,
            )  # fmt: skip
        except ActivityError as err:
            if _not_registered(err):  # an activity worker from before apply_steps
                for step in steps:
                    await self.run(plan, step.index, step.description)
                return
            failed = _failed_step(err, steps)
            at = next((n for n, s in enumerate(steps) if s.index == failed), None)
            if at is not None:  # the error names the step it stopped at
                self._journal.set_progress(total, done + at, steps[at].index, steps[at].description)
            raise
        self._journal.set_progress(total, done + len(steps), last.index, last.description)


def _not_registered(err: ActivityError) -> bool:
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.type == policies.NOT_REGISTERED


def _failed_step(err: ActivityError, steps: Sequence[PlanStep]) -> int | None:
    """The step a failed batch stopped at: named in its details, or for a timeout the one
    after the last step its heartbeat reported applied; None when the failure cannot say."""
    cause = err.cause
    if isinstance(cause, ActivityTimeout):
        beat = cause.last_heartbeat_details[0] if cause.last_heartbeat_details else None
        applied = beat.get("applied_step") if isinstance(beat, dict) else None
        if not isinstance(applied, int):  # the last beat was a step's own progress
            return None
        return next((s.index for s in steps if s.index > applied), None)
    if not isinstance(cause, ApplicationError) or not cause.details:
        return None
    details = cause.details[0]
    index = details.get("step_index") if isinstance(details, dict) else None
    return index if isinstance(index, int) else None

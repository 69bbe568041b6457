"""The plan-approval gate: a run waits here until the `approve_plan` update decides, its
deadline passes, or its history grows long enough to continue as new."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from datetime import datetime
from typing import NoReturn

from temporalio import workflow

from domain.contracts import PlanDecision, WorkflowTimings
from domain.enums import ErrorCode
from domain.events import EventType
from domain.values import ExecutionError
from workflows.failures import Stop
from workflows.journal import Journal
from workflows.lease import history_too_long
from workflows.patches import LONG_WAITS_CONTINUE_AS_NEW, applied


class ApprovalGate:
    """Whether the run takes decisions now, and the decision once made."""

    def __init__(self, timings: WorkflowTimings, *, open_now: bool = False) -> None:
        self._timings = timings
        # a continued approval wait takes decisions from its first moment
        self.awaiting = open_now
        self.decision: PlanDecision | None = None
        self._may_continue_as_new = True

    def decide(self, decision: PlanDecision) -> None:
        self.decision = decision
        self.awaiting = False

    async def ask(
        self,
        journal: Journal,
        steps: int,
        *,
        already_requested: bool,
        deadline: datetime | None,
        limit_minutes: int,
        continue_as_new: Callable[[], NoReturn],
    ) -> PlanDecision:
        """Ask for the decision (its event, once; the UI note), wait for it, record it."""
        self.awaiting = True
        if not already_requested:
            await journal.event(EventType.PLAN_APPROVAL_REQUESTED, {"steps": steps})
        journal.show("**waiting for plan approval** (update `approve_plan`)")
        decision = await self.wait(deadline, limit_minutes, continue_as_new)
        outcome = EventType.PLAN_APPROVED if decision.approved else EventType.PLAN_REJECTED
        await journal.event(outcome, {"by": decision.by, "reason": decision.reason})
        return decision

    async def wait(
        self,
        deadline: datetime | None,
        limit_minutes: int,
        continue_as_new: Callable[[], NoReturn],
    ) -> PlanDecision:
        """The decision; Stop (timeout) past `deadline`. A deadline exists only for runs
        whose constraints name one (a field newer than any run of the previous version, so
        its timer needs no patch)."""
        self.awaiting = True
        while (decision := self.decision) is None:
            remaining = (deadline - workflow.now()).total_seconds() if deadline else None
            try:
                await workflow.wait_condition(
                    self._over, timeout=max(remaining, 0.001) if remaining is not None else None
                )
            except builtins.TimeoutError:
                raise Stop(
                    ExecutionError(
                        code=ErrorCode.TIMEOUT,
                        message=f"the plan was not approved within {limit_minutes} minutes",
                        details={"reason": "approval_deadline"},
                    )
                ) from None
            if self.decision is None:
                if applied(LONG_WAITS_CONTINUE_AS_NEW):
                    continue_as_new()
                self._may_continue_as_new = False
        return decision

    def _over(self) -> bool:
        return self.decision is not None or (
            self._may_continue_as_new and history_too_long(self._timings)
        )

"""What a run records and shows: its state (row, event, search attribute), its progress
(UI details) and workflow-level events, each event caused by the previous transition."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow

from domain.contracts import (
    CarriedStateResult,
    ExecutionRef,
    RecordEventInput,
    RecordStateInput,
    StagedEvent,
    WorkflowTimings,
)
from domain.enums import FeatureState
from domain.events import EventType
from domain.values import ExecutionProgress
from workflows import search_attributes as sa
from workflows.activities import BookkeepingActivities
from workflows.calls import bookkeeping
from workflows.patches import SKIP_VERIFY_WITHOUT_COMMAND, STATE_WITH_ACTIVITY, applied

R = TypeVar("R", bound=CarriedStateResult)

# where a continued run starts: a continued lock wait starts over at analyzing
CARRIED_STATE = {
    "lock_wait": FeatureState.ANALYZING,
    "approval": FeatureState.PLANNING,
    "agent": FeatureState.EXECUTING,
    "agent_tasks": FeatureState.PLANNING,  # the agent is declaring its task list
    "admission": FeatureState.PENDING,  # still waiting for an execution slot
}


class Journal:
    """The run's state and progress as operators and clients see them."""

    def __init__(
        self,
        ref: ExecutionRef,
        timings: WorkflowTimings,
        state: FeatureState,
        last_event_id: str | None = None,
    ) -> None:
        self._ref = ref
        self._give_up = timedelta(seconds=timings.bookkeeping_give_up_s)
        self.state = state
        self.progress = ExecutionProgress()
        self.last_event_id = last_event_id

    async def transition(self, state: FeatureState, **extra: Any) -> None:
        """Record the state change (row and event) and show it."""
        change = self.change(state, **extra)
        await bookkeeping(BookkeepingActivities.record_state, change, give_up=self._give_up)
        self.entered(change)

    async def carried(
        self,
        state: FeatureState,
        call: Callable[[RecordStateInput | None], Awaitable[R]],
        **extra: Any,
    ) -> R:
        """`call` the activity that precedes the change to `state`, handing it the change to
        record with its own result (one transaction and one bookkeeping call fewer); the
        run enters `state` once it returns, after recording the change itself if the
        activity did not (an older worker). Older runs: the call, then `transition`."""
        if not applied(STATE_WITH_ACTIVITY):
            result = await call(None)
            await self.transition(state, **extra)
            return result
        change = self.change(state, **extra)
        result = await call(change)
        if not result.state_recorded:  # a worker that predates the field ignored it
            await bookkeeping(BookkeepingActivities.record_state, change, give_up=self._give_up)
        self.entered(change)
        return result

    def change(self, state: FeatureState, **extra: Any) -> RecordStateInput:
        """The change to `state`, caused by the previous one, with a fresh event id."""
        return RecordStateInput(
            ref=self._ref,
            state=state,
            event_id=str(workflow.uuid4()),
            causation_id=self.last_event_id,
            progress=self.progress,
            **extra,
        )

    def entered(self, change: RecordStateInput) -> None:
        """`change` is recorded: show it (state, search attribute, details)."""
        self.last_event_id = change.event_id
        self.state = change.state
        workflow.upsert_search_attributes([sa.STATE.value_set(change.state.label)])
        self.show()

    async def event(self, event_type: EventType, payload: dict[str, Any]) -> None:
        await bookkeeping(
            BookkeepingActivities.record_event,
            RecordEventInput(
                ref=self._ref,
                event_id=str(workflow.uuid4()),
                event_type=event_type.value,
                payload=payload,
            ),
            give_up=self._give_up,
        )

    def set_progress(
        self, total: int, completed: int, current: int | None, description: str | None = None
    ) -> None:
        self.progress = ExecutionProgress.of(total, completed, current or 0, description)
        self.show()

    def current_step(self) -> int | None:
        """The step being executed, for errors raised while executing."""
        return self.progress.current_step if self.state == FeatureState.EXECUTING else None

    def show(self, note: str | None = None) -> None:
        """Markdown current details: the state, step counts, the current step, a note."""
        p = self.progress
        lines = [f"**{self.state.label}**"]
        if p.total_steps:
            lines.append(f"step {p.completed_steps}/{p.total_steps} ({p.percent_complete:.0f}%)")
            if p.current_step_description:
                lines.append(f"current: {p.current_step_description}")
        if note:
            lines.append(note)
        workflow.set_current_details("  \n".join(lines))


async def verify_or_skip(
    journal: Journal, needed: bool, verify: Callable[[], Awaitable[str | None]]
) -> str | None:
    """Enter verifying and verify; when the analysis found nothing to run, record the two
    phases as the verify activity would have (skipped, passed) with the state change.
    Returns the verified commit (None when nothing ran)."""
    if not needed and applied(SKIP_VERIFY_WITHOUT_COMMAND):
        skipped = [
            StagedEvent(
                event_id=str(workflow.uuid4()),
                event_type=event.value,
                payload={
                    "phase": phase,
                    "passed": True,
                    "skipped": True,
                    "exit_code": None,
                    "duration_s": 0.0,
                },
            )
            for phase, event in (
                ("build", EventType.BUILD_COMPLETED),
                ("test", EventType.TEST_COMPLETED),
            )
        ]
        await journal.transition(FeatureState.VERIFYING, events=skipped)
        return None
    await journal.transition(FeatureState.VERIFYING)
    return await verify()

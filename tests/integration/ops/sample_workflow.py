"""A tiny workflow and activities that the observability tests run on a real Temporal server.

Kept apart from the tests so the workflow sandbox imports nothing but the SDK and the
domain contracts.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from domain.contracts import (
    ExecutionRef,
    FeatureExecutionInput,
    RecordEventInput,
    RecordStateInput,
)
from domain.enums import FeatureState


@activity.defn
async def greet(name: str) -> str:
    activity.logger.info("greeting %s", name)
    return f"hello {name}"


@activity.defn
def count_files(root: str) -> int:
    return len(root)


@activity.defn
async def always_fails(reason: str) -> None:
    raise ApplicationError(reason, non_retryable=True)


@workflow.defn
class ObservedWorkflow:
    """Runs greet twice, count_files once, and always_fails once (the failure is caught)."""

    @workflow.run
    async def run(self, name: str) -> str:
        timeout = timedelta(seconds=10)
        once = RetryPolicy(maximum_attempts=1)
        first = await workflow.execute_activity(
            greet, name, start_to_close_timeout=timeout, retry_policy=once
        )
        await workflow.execute_activity(
            greet, "again", start_to_close_timeout=timeout, retry_policy=once
        )
        await workflow.execute_activity(
            count_files, "/src", start_to_close_timeout=timeout, retry_policy=once
        )
        with contextlib.suppress(ActivityError):
            await workflow.execute_activity(
                always_fails, "planned failure", start_to_close_timeout=timeout, retry_policy=once
            )
        return first


@activity.defn
async def note(inp: RecordEventInput) -> None:
    activity.logger.info("noted %s", inp.event_type)


@activity.defn(name="record_state")
async def record_state(inp: RecordStateInput) -> None:
    """Stands in for the bookkeeping activity of the same name (what the counter watches)."""


@workflow.defn
class TrackedWorkflow:
    """Logs from the workflow and an activity, then records a final state, like a run."""

    @workflow.run
    async def run(self, inp: FeatureExecutionInput) -> str:
        workflow.logger.info("tracking %s", inp.title)
        ref = ExecutionRef(execution_id=inp.execution_id, tenant_id=inp.tenant_id)
        timeout = timedelta(seconds=10)
        await workflow.execute_activity(
            note,
            RecordEventInput(ref=ref, event_id=inp.execution_id, event_type="tracked"),
            start_to_close_timeout=timeout,
        )
        for state in (FeatureState.EXECUTING, FeatureState.COMPLETED):
            await workflow.execute_activity(
                record_state,
                RecordStateInput(ref=ref, state=state, event_id=f"{inp.execution_id}-{state}"),
                start_to_close_timeout=timeout,
            )
        return "tracked"


@workflow.defn
class FailingWorkflow:
    """Fails, so the SDK's failure counters exist on the metrics endpoint."""

    @workflow.run
    async def run(self) -> None:
        raise ApplicationError("planned workflow failure", non_retryable=True)

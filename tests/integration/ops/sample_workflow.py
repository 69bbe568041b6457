"""A tiny workflow and activities that the observability tests run on a real Temporal server.

Kept apart from the tests so the workflow sandbox imports nothing but the SDK.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError


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

"""A one-activity workflow for the Retry-After test; imports nothing but the SDK so the
workflow sandbox has nothing to re-import."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

DELIVER = "deliver_pull_request"


@workflow.defn
class DeliverOnceWorkflow:
    """Delivers a pull request with a retry policy that would retry at once on its own."""

    @workflow.run
    async def run(self, branch: str) -> int:
        result: int = await workflow.execute_activity(
            DELIVER,
            branch,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100), maximum_attempts=5
            ),
        )
        return result

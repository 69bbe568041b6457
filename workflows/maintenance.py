"""PurgeWorkflow: the scheduled clean-up of expired artifacts, expired locks and orphaned
worktrees. `builder dev` creates its schedule; production creates it with
`builder schedules ensure`."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy

PURGE_WORKFLOW = "PurgeWorkflow"
PURGE_ACTIVITY = "purge_expired"
PURGE_SCHEDULE_ID = "builder-purge"
PURGE_EVERY = timedelta(hours=1)


class PurgeReport(BaseModel):
    """What one purge removed."""

    model_config = ConfigDict(extra="forbid")

    artifacts: int = 0
    locks: int = 0
    worktrees: int = 0


@workflow.defn(name=PURGE_WORKFLOW)
class PurgeWorkflow:
    """One purge pass; the schedule runs it periodically."""

    @workflow.run
    async def run(self) -> PurgeReport:
        return await workflow.execute_activity(
            PURGE_ACTIVITY,
            result_type=PurgeReport,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
            summary="purge expired artifacts, locks and orphaned worktrees",
        )

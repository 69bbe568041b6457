"""Temporal schedules builder relies on; creating them is idempotent."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from workflows.maintenance import PURGE_EVERY, PURGE_SCHEDULE_ID, PURGE_WORKFLOW


async def ensure_purge_schedule(client: Client, task_queue: str) -> bool:
    """Create the hourly purge schedule unless it exists; True when it was created."""
    try:
        await client.create_schedule(
            PURGE_SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    PURGE_WORKFLOW, id=f"{PURGE_SCHEDULE_ID}-run", task_queue=task_queue
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=PURGE_EVERY)]),
            ),
        )
    except ScheduleAlreadyRunningError:
        return False
    return True

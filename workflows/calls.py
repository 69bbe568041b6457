"""How the workflow calls its activities: bookkeeping as local activities, worktree work on
the worker that holds the worktree (moving the worktree when that worker is gone)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType

from domain.contracts import CleanupRequest, ExecutionRef, WorkflowTimings, WorkspaceResult
from domain.enums import ErrorCode
from domain.values import ExecutionError
from workflows import policies
from workflows.activities import WorkspaceActivities
from workflows.failures import Stop, worker_gone

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R")

# an unbound activity method of a workflows.activities interface
ActivityMethod = Callable[[Any, A], Awaitable[R]]


def summary_of(method: Callable[..., Any]) -> str:
    return method.__name__.replace("_", " ")


async def bookkeeping(method: ActivityMethod[A, R], arg: A, *, give_up: timedelta) -> R:
    """State, events and locks: short Postgres writes, run as local activities so they cost
    no round trip through the server (they are still recorded and retried)."""
    return await workflow.execute_local_activity_method(
        method,
        arg,
        summary=summary_of(method),
        start_to_close_timeout=policies.BOOKKEEPING_TIMEOUT,
        schedule_to_close_timeout=give_up,
        retry_policy=policies.bookkeeping_retry(give_up),
    )


class Worktree:
    """Where the execution's worktree lives; calls that need it go to that worker."""

    def __init__(
        self, ref: ExecutionRef, timings: WorkflowTimings, workspace: WorkspaceResult | None
    ) -> None:
        self._ref = ref
        self._affinity_wait = timedelta(seconds=timings.worker_affinity_wait_s)
        self.workspace = workspace

    async def open(self) -> WorkspaceResult:
        """Make (or rebuild) the worktree on whichever worker takes the task."""
        self.workspace = await workflow.execute_activity_method(
            WorkspaceActivities.open_workspace,
            self._ref,
            start_to_close_timeout=policies.CLONE_TIMEOUT,
            heartbeat_timeout=policies.HEARTBEAT,
            retry_policy=policies.WORKTREE_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            summary="clone and check out the target branch",
        )
        return self.workspace

    async def release(self, *, keep_warm: bool) -> None:
        """Keep the partial patch (when unfinished) and give the worktree up; a failure only
        leaves an orphan that the purge schedule removes."""
        if self.workspace is None:
            return
        try:
            await workflow.execute_activity_method(
                WorkspaceActivities.cleanup,
                CleanupRequest(ref=self._ref, keep_warm=keep_warm),
                task_queue=self.workspace.task_queue,
                start_to_close_timeout=policies.CLEANUP_TIMEOUT,
                schedule_to_start_timeout=self._affinity_wait,
                retry_policy=RetryPolicy(maximum_attempts=5),
                summary="keep the partial patch, remove the worktree",
            )
        except ActivityError:
            workflow.logger.warning("cleanup failed; the purge schedule removes orphaned worktrees")

    async def call(
        self,
        method: ActivityMethod[A, R],
        arg: A,
        limit: timedelta,
        summary: str,
        *,
        retry: RetryPolicy = policies.WORKTREE_RETRY,
    ) -> R:
        """Run on the worker holding the worktree; if it is gone, move the worktree."""
        for _ in range(3):
            queue = (self.workspace or await self.open()).task_queue
            try:
                return await workflow.execute_activity_method(
                    method,
                    arg,
                    task_queue=queue,
                    start_to_close_timeout=limit,
                    schedule_to_start_timeout=self._affinity_wait,
                    heartbeat_timeout=policies.HEARTBEAT,
                    retry_policy=retry,
                    cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                    summary=summary,
                )
            except ActivityError as err:
                if not worker_gone(err):
                    raise
                workflow.logger.warning(
                    "worker %s is gone; rebuilding the worktree elsewhere", queue
                )
                await self.open()
        raise Stop(
            ExecutionError(code=ErrorCode.INTERNAL, message="no worker could hold the worktree")
        )

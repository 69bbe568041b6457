"""The pull request step after the push (issue 15), behind its patch id: histories recorded
before it never call deliver_pull_request, and replay the same."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

from domain.contracts import ExecutionRef, FeatureExecutionOutput, PullRequestRequest
from domain.enums import FeatureState
from domain.values import DeliveryResult
from workflows import policies
from workflows.activities import PullRequestActivities
from workflows.failures import error_of


async def deliver_pull_request(
    ref: ExecutionRef, pushed: DeliveryResult, *, stopping: Callable[[], bool]
) -> FeatureExecutionOutput:
    """Open or update the pull request of the pushed branch. A failure fails the run but
    keeps the push: the result names the pushed branch, the error says why there is no
    pull request. A cancel (or a lost lease) while it runs is left to the caller."""
    try:
        delivered = await workflow.execute_activity_method(
            PullRequestActivities.deliver_pull_request,
            PullRequestRequest(ref=ref, pushed=pushed),
            start_to_close_timeout=policies.FORGE_TIMEOUT,
            retry_policy=policies.FORGE_RETRY,
            summary="open the pull request",
        )
    except ActivityError as err:
        if stopping():
            raise
        error = error_of(err, None)
        message = (
            f"branch {pushed.branch_name} was pushed at {pushed.commit_sha[:12]}, but the pull "
            f"request was not opened: {error.message}"
        )
        details = {**(error.details or {}), "branch_pushed": True, "branch": pushed.branch_name}
        failed = error.model_copy(update={"message": message, "details": details})
        return FeatureExecutionOutput(state=FeatureState.FAILED.label, result=pushed, error=failed)
    return FeatureExecutionOutput(state=FeatureState.COMPLETED.label, result=delivered.result)

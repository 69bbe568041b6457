"""Everything the API asks of Temporal: start an execution's workflow, cancel it, decide its plan.

Temporal being unreachable is a 503 problem; the database row stays, and a retried request
heals (start uses the workflow id of the idempotency key with USE_EXISTING).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import TemporalClientProvider
from api.problems import ApiProblem, conflict, service_unavailable
from api.schemas.executions import engine_name
from domain.contracts import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    CancelRequest,
    FeatureExecutionInput,
    FeatureExecutionOutput,
    PlanDecision,
)
from domain.enums import FeatureState
from domain.values import FeatureConstraints
from persistence.tables import FeatureExecutionRow
from workflows import search_attributes as sa

log = logging.getLogger(__name__)


async def start_execution_workflow(
    client: Client,
    row: FeatureExecutionRow,
    *,
    task_queue: str,
    wait_for_lock: bool,
    rpc_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, FeatureExecutionOutput]:
    """Start the workflow of an execution row: the one way an execution starts.

    REJECT_DUPLICATE: a run that already finished is never started again by a retried
    POST; USE_EXISTING: a running one is simply reused. Raises Temporal's own errors.
    """
    assert row.workflow_id is not None
    inp = FeatureExecutionInput(
        execution_id=str(row.id),
        tenant_id=str(row.tenant_id),
        repository_id=str(row.repository_id),
        title=row.title,
        engine=engine_name(row.engine),
        constraints=FeatureConstraints.model_validate(row.constraints or {}),
        wait_for_lock=wait_for_lock,
    )
    return await client.start_workflow(
        WORKFLOW_NAME,
        inp,
        id=row.workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=row.title,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.TENANT, str(row.tenant_id)),
                SearchAttributePair(sa.REPOSITORY, str(row.repository_id)),
                SearchAttributePair(sa.STATE, FeatureState.PENDING.label),
            ]
        ),
        result_type=FeatureExecutionOutput,
        rpc_timeout=rpc_timeout,
    )


class WorkflowNotFound(Exception):
    """Temporal has no workflow with the execution's id (its start never happened)."""


class WorkflowGateway:
    """Starts, signals and updates the workflows of executions."""

    def __init__(
        self,
        provider: TemporalClientProvider,
        *,
        rpc_timeout: timedelta,
        wait_for_lock: bool,
        task_queue: str = TASK_QUEUE,
    ) -> None:
        self._provider = provider
        self._rpc_timeout = rpc_timeout
        self._wait_for_lock = wait_for_lock
        self._task_queue = task_queue

    async def client(self) -> Client:
        try:
            return await self._provider()
        except Exception as exc:
            log.warning("temporal unreachable: %s", type(exc).__name__)
            raise service_unavailable(
                "the workflow service (Temporal) is unreachable; the request was recorded "
                "and retrying the same request will complete it"
            ) from None

    async def start(self, row: FeatureExecutionRow) -> None:
        """Start the execution's workflow, or attach to the one already running."""
        client = await self.client()
        try:
            await start_execution_workflow(
                client,
                row,
                task_queue=self._task_queue,
                wait_for_lock=self._wait_for_lock,
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            return  # it ran and finished: that is the execution the client asked for
        except RPCError as exc:
            raise self._unavailable(exc) from None

    async def cancel(self, workflow_id: str, reason: str | None) -> None:
        client = await self.client()
        try:
            await client.get_workflow_handle(workflow_id).signal(
                "cancel", CancelRequest(reason=reason), rpc_timeout=self._rpc_timeout
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(workflow_id) from None
            raise self._unavailable(exc) from None

    async def decide_plan(self, workflow_id: str, decision: PlanDecision) -> str:
        client = await self.client()
        handle = client.get_workflow_handle(workflow_id)
        try:
            result: str = await handle.execute_update(
                "approve_plan", decision, result_type=str, rpc_timeout=self._rpc_timeout
            )
            return result
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError):
                raise conflict(cause.message) from None
            raise conflict("the workflow refused the plan decision") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise service_unavailable(
                "no worker answered the plan decision in time; retry later"
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise conflict("the execution is not waiting for plan approval") from None
            raise self._unavailable(exc) from None

    @staticmethod
    def _unavailable(exc: RPCError) -> ApiProblem:
        status = exc.status.name if exc.status else "unknown"
        log.warning("temporal call failed: %s", status)
        return service_unavailable(
            f"the workflow service (Temporal) failed the call ({status}); retry the request"
        )

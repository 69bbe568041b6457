"""Worker interceptors that put the execution's ids on every log line of its activities
and of its workflow, without any activity or workflow binding them by hand.

Activities: the input most of them take carries `ref.execution_id`/`ref.tenant_id`
(`domain.contracts.ExecutionRef`), some carry `execution_id` directly. Workflows: the start
input (`FeatureExecutionInput`) carries both. The ids go into
`builder.observability.context.log_context` for the duration of the call; the JSON log
formatter reads them from there. The workflow interceptor class is created by the SDK
inside the sandbox but is this module's class, so it binds the same context variable the
formatter reads; a context variable changes nothing the workflow decides, so replay stays
deterministic.
"""

from __future__ import annotations

from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from builder.observability.context import log_context


def execution_ids(args: Any) -> dict[str, str]:
    """execution_id and tenant_id from an activity's or workflow's first argument."""
    if not args:
        return {}
    first = args[0]
    holder = getattr(first, "ref", None) or first
    ids = {}
    for name in ("execution_id", "tenant_id"):
        value = getattr(holder, name, None)
        if isinstance(value, str) and value:
            ids[name] = value
    return ids


class ExecutionLogContextInterceptor(Interceptor):
    """Binds execution_id/tenant_id around every activity attempt and workflow run."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        with log_context(**execution_ids(input.args)):
            return await super().execute_activity(input)


class _WorkflowInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        with log_context(**execution_ids(input.args)):
            return await super().execute_workflow(input)

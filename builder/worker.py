"""The worker process: runs FeatureExecutionWorkflow and the pipeline's activities.

It polls two task queues: the shared `builder` queue (workflows, bookkeeping, clone) and
its own `builder@<worker id>` queue for activities that touch the worktrees it holds. The
worker id is stable per host and workspace directory, so a restarted worker resumes its
own queue and finds its worktrees still on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import signal
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from temporalio.client import Client, Interceptor
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from builder.settings import Settings

if TYPE_CHECKING:
    from activities.phases.context import PhaseDeps
from domain.contracts import TASK_QUEUE
from workflows.feature_execution import FeatureExecutionWorkflow
from workflows.maintenance import PurgeWorkflow


def worker_id(settings: Settings) -> str:
    """Stable id of this worker: host plus a hash of its workspace directory."""
    if settings.worker_id:
        return settings.worker_id
    digest = hashlib.sha256(str(settings.resolved_workspace_dir()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{digest}"


def worker_queue(settings: Settings) -> str:
    return f"{settings.task_queue or TASK_QUEUE}@{worker_id(settings)}"


async def connect(settings: Settings, interceptors: Sequence[Interceptor] = ()) -> Client:
    """The worker's client: builder.temporal_connection, the one place clients are built."""
    from builder import temporal_connection

    return await temporal_connection.connect(settings, interceptors=interceptors)


async def run_worker(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    interceptors: Sequence[Interceptor] = (),
    settle: bool = False,
) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM), then shut down gracefully.

    `interceptors` go on the client, so both workers inherit them (tracing comes with the
    client, see builder.temporal_connection); activity metrics, the executions counter and
    the execution ids on log lines are always on. `settle`: the process is the worker's
    own (`builder worker`, `builder dev`), so its start-up heap is settled (settle_heap)
    once the workers are built.
    """
    from activities.maintenance import Maintenance
    from builder.deps import build_pipeline
    from builder.observability.execution_context import ExecutionLogContextInterceptor
    from builder.observability.metrics import ActivityMetricsInterceptor

    stop = stop or _stop_on_signals()
    client = await connect(settings, interceptors)
    queue = worker_queue(settings)
    pipeline = build_pipeline(settings, worker_queue=queue)
    maintenance = Maintenance(pipeline.deps)
    # a restarted worker first clears worktrees whose executions ended while it was down
    await maintenance.purge_orphaned_worktrees()
    common = {
        "activities": [*pipeline.activities(), maintenance.purge_expired],
        "max_concurrent_activities": settings.worker_max_activities,
        "interceptors": [ExecutionLogContextInterceptor(), ActivityMetricsInterceptor()],
        "graceful_shutdown_timeout": timedelta(seconds=10),
        # cancellations reach heartbeating activities within about a second
        "max_heartbeat_throttle_interval": timedelta(seconds=1),
        "default_heartbeat_throttle_interval": timedelta(seconds=1),
    }
    shared = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[FeatureExecutionWorkflow, PurgeWorkflow],
        workflow_runner=workflow_runner(),
        max_concurrent_workflow_tasks=settings.worker_max_workflow_tasks,
        deployment_config=deployment_config(settings),
        **common,  # type: ignore[arg-type]
    )
    local = Worker(client, task_queue=queue, **common)  # type: ignore[arg-type]
    if settle:
        settle_heap()
    webhooks = _start_webhook_dispatcher(settings, pipeline.deps, stop)
    try:
        async with shared, local:
            await stop.wait()
    finally:
        if webhooks is not None:
            # a delivery cut short is sent again by the next dispatcher: at least once holds
            await asyncio.wait({webhooks}, timeout=5)
            webhooks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await webhooks
        await pipeline.close()


def settle_heap() -> None:
    """Move what start-up left on the heap (modules, the workflow sandbox's checked copy,
    pools) out of the collector's reach: a warm worker tracks some 320,000 such objects and
    every full collection walked them all, stalling the event loop for 0.25-0.35 s; after
    this one takes 40-60 ms (docs/performance.md, eighth pass). Start-up's garbage goes
    first, so nothing unreachable is kept for good."""
    gc.collect()
    gc.freeze()


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Worker Versioning for the workflow worker, when a deployment name and build id are
    set (docs/operations.md, "Changing the workflow"): runs start on the deployment's current
    version and, by default, move to a newer one at their next workflow task (auto-upgrade;
    `pinned` keeps each run on the version it started on)."""
    if not settings.worker_deployment_name or not settings.worker_build_id:
        return None
    behavior = (
        VersioningBehavior.PINNED
        if settings.worker_versioning_behavior == "pinned"
        else VersioningBehavior.AUTO_UPGRADE
    )
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(
            deployment_name=settings.worker_deployment_name, build_id=settings.worker_build_id
        ),
        use_worker_versioning=True,
        default_versioning_behavior=behavior,
    )


def _start_webhook_dispatcher(
    settings: Settings, deps: PhaseDeps, stop: asyncio.Event
) -> asyncio.Task[None] | None:
    """The outbox dispatcher, on the worker's own database pool and keyring."""
    if not settings.webhook_dispatcher:
        return None
    from activities.webhooks import WebhookDispatcher
    from builder.webhooks import dispatcher_id, webhook_config

    dispatcher = WebhookDispatcher(
        deps.sessions, deps.keyring, webhook_config(settings), dispatcher_id(worker_id(settings))
    )
    return asyncio.create_task(dispatcher.run(stop), name="webhook-dispatcher")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, with only `domain` and a few third-party modules passed through.

    Passing a module through shares one import across runs and, for code in it, switches
    the sandbox's determinism checks off: only pure modules without mutable state qualify.
    `workflows` is re-imported for every run so a non-deterministic call in it fails (see
    tests/unit/test_workflow_replay.py). pydantic and domain are the expensive imports."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


PASSTHROUGH_MODULES = ("pydantic", "pydantic_core", "annotated_types", "domain")


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop

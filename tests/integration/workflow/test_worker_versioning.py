"""Worker Versioning: a worker with a deployment name and build id polls as that version, and
a run started once the version is current is processed by it (and recorded as such)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path

from temporalio.client import Client

from builder.stack.temporal import TemporalDevServer
from builder.worker import run_worker
from tests.integration.workflow.conftest import worker_settings
from workflows.maintenance import PURGE_WORKFLOW, PurgeReport


def _temporal(server: TemporalDevServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["temporal", *args, "--address", server.address, "--namespace", "default"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


async def test_a_versioned_worker_runs_the_workflows_of_its_current_version(
    database_url: str, temporal_server: TemporalDevServer, temporal_client: Client, tmp_path: Path
) -> None:
    deployment, build = f"builder-{uuid.uuid4().hex[:6]}", "build-1"
    queue = f"versioned-{uuid.uuid4().hex[:6]}"
    settings = worker_settings(
        database_url, temporal_server, tmp_path / "state", task_queue=queue,
        worker_deployment_name=deployment, worker_build_id=build,
    )  # fmt: skip
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop))
    try:
        # the version exists once its worker has polled; then it can be made current
        for _ in range(60):
            done = _temporal(
                temporal_server, "worker", "deployment", "set-current-version",
                "--deployment-name", deployment, "--build-id", build, "--yes",
            )  # fmt: skip
            if done.returncode == 0:
                break
            await asyncio.sleep(0.5)
        assert done.returncode == 0, done.stderr
        handle = await temporal_client.start_workflow(
            PURGE_WORKFLOW, id=f"purge-{uuid.uuid4().hex}", task_queue=queue,
            result_type=PurgeReport,
        )  # fmt: skip
        report = await asyncio.wait_for(handle.result(), 60)
        info = (await handle.describe()).raw_description.workflow_execution_info
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    assert isinstance(report, PurgeReport)
    version = info.versioning_info.deployment_version
    assert (version.deployment_name, version.build_id) == (deployment, build)

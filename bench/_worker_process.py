"""`builder worker` as a child process, started with the benchmark's settings as env vars.

A separate process keeps the worker's CPU and memory apart from the benchmark driver's
(the driver's Temporal client and timers would otherwise share the worker's GIL), and lets
the throughput benchmark read the worker's RSS alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from _harness import ROOT, settings_env
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from builder.settings import Settings
from builder.worker import worker_queue

# As from an installed package, whose modules pip compiled: bytecode is cached, so the
# workflow sandbox's import of the workflow modules for each run reads it instead of
# compiling them again (a checkout run with PYTHONDONTWRITEBYTECODE=1 compiles ~10 ms of
# them per execution). The bare baseline's worker runs the same way.
INSTALLED = {"PYTHONDONTWRITEBYTECODE": ""}


def _command(profile: Path | None = None) -> list[str]:
    # the same interpreter as the benchmark, whatever `builder` on PATH points at
    if profile is not None:
        # cProfile of the event loop thread, written when the worker shuts down gracefully
        code = (
            "import cProfile, sys; from builder.cli import main; "
            f"cProfile.run('main([\"worker\"])', {str(profile)!r})"
        )
        return [sys.executable, "-c", code]
    return [
        sys.executable,
        "-c",
        "import sys; from builder.cli import main; sys.exit(main())",
        "worker",
    ]


@contextlib.contextmanager
def worker_process(
    settings: Settings, log_file: Path, profile: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start the worker; on exit SIGTERM it (graceful shutdown), SIGKILL after 20 s.

    With `profile`, the worker runs under cProfile and writes its stats there on exit."""
    env = settings_env(settings)
    env["BUILDER_LOG_JSON"] = "false"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(INSTALLED)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            _command(profile),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=settings.state_dir,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


async def wait_until_polling(
    client: Client, settings: Settings, proc: subprocess.Popen[bytes], timeout: float = 60
) -> float:
    """Wait until the worker polls its workflow and activity queues; returns seconds waited."""
    start = time.perf_counter()
    queues = [
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
        (settings.task_queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
        (worker_queue(settings), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    ]
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}; see its log")
        ready = 0
        for name, kind in queues:
            resp = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=name),
                    task_queue_type=kind,
                )
            )
            ready += bool(resp.pollers)
        if ready == len(queues):
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"the worker did not poll {queues} within {timeout} s")
        await asyncio.sleep(0.2)

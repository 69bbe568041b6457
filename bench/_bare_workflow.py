"""The throughput baseline: a bare Temporal workflow running K trivial activities in turn.

It measures what Temporal alone costs on this server for the same number of activities as
one builder execution, so the throughput benchmark can say how much builder adds. Run as
its own worker process (like `builder worker`), sandboxed like builder's workflow:

    python bench/_bare_workflow.py --address 127.0.0.1:7233 --queue bare
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

WORKFLOW_NAME = "BareWorkflow"


@activity.defn(name="bare_step")
async def bare_step(index: int) -> int:
    return index + 1


@workflow.defn(name=WORKFLOW_NAME)
class BareWorkflow:
    """K sequential trivial activities, each with a start-to-close timeout like builder's."""

    @workflow.run
    async def run(self, activities: int) -> int:
        total = 0
        for i in range(activities):
            total += await workflow.execute_activity(
                bare_step, i, start_to_close_timeout=timedelta(seconds=30)
            )
        return total


async def serve(address: str, queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # run as a script this module is __main__, which the workflow sandbox cannot re-import
    import _bare_workflow as module

    # the same concurrency limits as builder's defaults (Settings.worker_max_*)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[module.BareWorkflow],
        activities=[module.bare_step],
        max_concurrent_activities=200,
        max_concurrent_workflow_tasks=100,
    ):
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--queue", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.queue))


if __name__ == "__main__":
    main()

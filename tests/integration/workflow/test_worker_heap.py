"""The worker's own process settles its start-up heap: full collections stop walking it."""

from __future__ import annotations

import asyncio
import gc
import uuid
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from builder.stack.temporal import TemporalDevServer
from builder.worker import run_worker, settle_heap
from tests.integration.workflow.conftest import worker_settings
from workflows.maintenance import PURGE_WORKFLOW, PurgeReport


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


@pytest.fixture
def thawed() -> Iterator[None]:
    """The test process's heap is left as it was found: nothing frozen before or after."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_settling_frees_start_up_garbage_first_and_later_garbage_is_still_collected(
    thawed: None,
) -> None:
    before = Node()
    gone_before = weakref.ref(before)
    del before
    settle_heap()
    assert gone_before() is None, "garbage from before the freeze would be kept for good"
    assert gc.get_freeze_count() > 0
    after = Node()
    gone_after = weakref.ref(after)
    del after
    gc.collect()
    assert gone_after() is None


@pytest.mark.parametrize("settle", [True, False])
async def test_the_worker_settles_its_heap_only_when_the_process_is_its_own(
    thawed: None,
    settle: bool,
    database_url: str,
    temporal_server: TemporalDevServer,
    temporal_client: Client,
    tmp_path: Path,
) -> None:
    queue = f"heap-{uuid.uuid4().hex[:6]}"
    settings = worker_settings(database_url, temporal_server, tmp_path / "state", task_queue=queue)
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker(settings, stop, settle=settle))
    try:
        handle = await temporal_client.start_workflow(
            PURGE_WORKFLOW, id=f"purge-{uuid.uuid4().hex}", task_queue=queue,
            result_type=PurgeReport,
        )  # fmt: skip
        report = await asyncio.wait_for(handle.result(), 60)
        frozen = gc.get_freeze_count()
    finally:
        stop.set()
        await asyncio.wait_for(worker, 30)
    assert isinstance(report, PurgeReport)  # a settled worker still runs its workflows
    if settle:
        # the imports, the sandbox's checked workflows and the pools: far more than a few
        assert frozen > 50_000
    else:
        assert frozen == 0

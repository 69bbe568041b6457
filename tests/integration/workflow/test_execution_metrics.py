"""The real worker counts an execution in `builder_executions_total` when it ends."""

from __future__ import annotations

import uuid

from builder.observability.metrics import default_metrics

CHANGES = [{"op": "write_file", "path": "counted.txt", "content": "counted\n"}]


def completed_count() -> float:
    value = default_metrics().registry.get_sample_value(
        "builder_executions_total", {"state": "completed"}
    )
    return value or 0.0


async def test_a_completed_execution_moves_the_executions_counter_by_one(
    harness, running_worker, bare_remote
) -> None:
    before = completed_count()
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(bare_remote(files=2)))
    _, handle = await harness.start(tenant, repo_id, CHANGES)

    assert (await handle.result()).state == "completed"
    assert completed_count() == before + 1

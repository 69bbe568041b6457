"""The analysis activity alone: a second execution on the same commit and properties reuses
the worker's analysis; anything it depends on changing means a fresh one."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.analysis.report import AnalysisReport
from activities.pipeline import FeaturePipeline
from domain.contracts import ExecutionRef
from domain.events import EventType
from persistence.artifacts import ArtifactService
from persistence.events import read_after
from persistence.tables import FeatureExecutionRow
from tests.fixtures.executions import Harness
from tests.integration.activities.conftest import Run

CHANGES = [{"op": "write_file", "path": "new.txt", "content": "x\n"}]


async def _analysed(
    harness: Harness,
    pipeline: FeaturePipeline,
    sessions: async_sessionmaker[AsyncSession],
    tenant: uuid.UUID,
    repo: Any,
    recorded: dict[str, Any] | None = None,
) -> tuple[Any, bool]:
    """The analysis result and whether it was reused; `recorded` gets what it stored."""
    row = await harness.execution(tenant, repo, CHANGES)
    run = Run(pipeline, ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant)),
              ActivityEnvironment())  # fmt: skip
    await run("open_workspace")
    result = await run("analyze")
    async with sessions() as session:
        events = await read_after(session, row.id, 0, 100)
        if recorded is not None:
            execution = await session.get(FeatureExecutionRow, row.id, populate_existing=True)
            assert execution is not None
            service = ArtifactService(session, pipeline.deps.store)
            artifacts = {
                a.name: b"".join([c async for c in await service.open(tenant, a.id)])
                for a in await service.list_by_execution(tenant, row.id)
            }
            recorded.update(properties=execution.properties, artifacts=artifacts)
    (completed,) = [e for e in events if e.event_type == EventType.ANALYSIS_COMPLETED]
    if recorded is not None:
        recorded["event"] = {k: v for k, v in completed.payload.items() if k != "reused"}
    return result, bool(completed.payload["reused"])


async def test_the_same_commit_and_properties_are_analysed_once_per_worker(
    harness: Harness,
    pipeline: FeaturePipeline,
    sessions: async_sessionmaker[AsyncSession],
    bare_remote: Callable[..., Path],
) -> None:
    remote = bare_remote(files=3)
    tenant = uuid.uuid4()
    repo = await harness.repository(tenant, str(remote), {"test_command": "true"})
    stored: list[dict[str, Any]] = [{}, {}]
    first, first_reused = await _analysed(harness, pipeline, sessions, tenant, repo, stored[0])
    second, second_reused = await _analysed(harness, pipeline, sessions, tenant, repo, stored[1])
    assert (first_reused, second_reused) == (False, True)
    assert second == first  # the same commands, languages and timeouts
    # and the same records: artifacts byte for byte, the execution's keys, the event
    assert set(stored[0]["artifacts"]) >= {"analysis-report.json", "dependency-graph.json"}
    assert stored[1] == stored[0]
    report = AnalysisReport.model_validate_json(stored[0]["artifacts"]["analysis-report.json"])
    assert (report.test_command, report.total_files) == (first.test_command, first.file_count)

    other_properties = await harness.repository(tenant, str(remote), {"test_command": "false"})
    changed, reused = await _analysed(harness, pipeline, sessions, tenant, other_properties)
    assert not reused
    assert changed.test_command == "false"

    other_tenant = uuid.uuid4()
    foreign = await harness.repository(other_tenant, str(remote), {"test_command": "true"})
    _result, reused = await _analysed(harness, pipeline, sessions, other_tenant, foreign)
    assert not reused  # a report never crosses tenants (nor repositories)

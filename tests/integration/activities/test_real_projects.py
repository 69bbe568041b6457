"""Real open-source projects from PyPI through builder's own setup, build and test (the
verify activity, the sandbox, the cached environment, the egress proxy), each completing
with the test count its own runner reports when run directly."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.pipeline import FeaturePipeline
from domain.contracts import ExecutionRef, VerifyRequest
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.fixtures.real_projects import (
    more_itertools_source,
    packaging_source,
    packaging_test_python,
    run_plain,
)
from tests.fixtures.registry import FetchedSource, git_remote
from tests.fixtures.services import require_executable
from tests.integration.activities.conftest import Run

__all__ = ["more_itertools_source", "packaging_source", "packaging_test_python"]


def _count(pattern: str, text: str, default: int | None = None) -> int:
    match = re.search(pattern, text, re.M)
    if match is None:
        assert default is not None, f"no match for {pattern!r} in:\n{text[-2000:]}"
        return default
    return int(match.group(1))


async def _verified(
    harness: Harness, pipeline: FeaturePipeline, source: FetchedSource, tmp_path: Path
) -> tuple[dict[str, Any], list[str]]:
    """The project through setup, build and test; its test.completed payload and events."""
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    remote = git_remote(source, tmp_path / f"{source.name}.git")
    tenant = uuid.uuid4()
    repo = await harness.repository(tenant, str(remote), {})
    row = await harness.execution(
        tenant, repo, [{"op": "write_file", "path": "BUILDER_NOTES.md", "content": "notes\n"}]
    )
    run = Run(pipeline, ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant)),
              ActivityEnvironment())  # fmt: skip
    await run.prepare()
    await run("apply_step", run.step(0))
    built = await run("verify", VerifyRequest(ref=run.ref, phase="build"))
    tested = await run("verify", VerifyRequest(ref=run.ref, phase="test"))
    assert built.passed and tested.passed
    async with UnitOfWork(harness.sessions) as uow:
        events = await uow.events.read_after(row.id, 0, 1000)
    [payload] = [e.payload for e in events if e.event_type == "test.completed"]
    return payload, [e.event_type + ":" + str(e.payload.get("phase")) for e in events]


async def test_a_unittest_project_completes_with_the_count_unittest_reports(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    more_itertools_source: FetchedSource,
    tmp_path: Path,
) -> None:
    plain = run_plain([sys.executable, "-m", "unittest"], more_itertools_source.root)
    ran = _count(r"^Ran (\d+) tests? in", plain)
    skipped = _count(r"skipped=(\d+)", plain, default=0)
    pipeline = pipeline_factory()
    try:
        payload, events = await _verified(harness, pipeline, more_itertools_source, tmp_path)
    finally:
        await pipeline.close()
    assert "build.completed:setup" in events  # builder's setup ran (a cold environment)
    tests = payload["tests"]
    assert (tests["total"], tests["skipped"]) == (ran, skipped)
    assert tests["failed"] == tests["errors"] == 0 and ran > 800


async def test_a_pytest_src_layout_project_completes_with_the_count_pytest_reports(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    packaging_source: FetchedSource,
    packaging_test_python: Path,
    tmp_path: Path,
) -> None:
    tree = packaging_source.copy_tree(tmp_path / "direct")
    plain = run_plain(
        [str(packaging_test_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        tree, {"PYTHONPATH": str(tree / "src")},
    )  # fmt: skip
    passed = _count(r"(\d+) passed", plain)
    skipped = _count(r"(\d+) skipped", plain, default=0)
    pipeline = pipeline_factory()
    try:
        payload, events = await _verified(harness, pipeline, packaging_source, tmp_path)
    finally:
        await pipeline.close()
    assert "build.completed:setup" in events
    tests = payload["tests"]
    assert (tests["passed"], tests["skipped"]) == (passed, skipped)
    assert tests["failed"] == tests["errors"] == 0 and passed > 1000

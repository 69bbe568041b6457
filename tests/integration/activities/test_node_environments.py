"""A real npm package with a package-lock through builder's setup, build and test: `npm ci`
installs its dependencies into the cached environment (never the worktree), the tests
find them at /workspace/node_modules, and a second execution on the same lock file skips
setup."""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.analysis.repo_config import analyze_configured_repository
from activities.pipeline import FeaturePipeline
from domain.contracts import ExecutionRef, VerifyRequest
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.fixtures.real_projects import fastify_error_source, run_plain
from tests.fixtures.registry import FetchedSource, git_remote
from tests.fixtures.services import require_executable
from tests.integration.activities.conftest import Run, applied

__all__ = ["fastify_error_source"]


def _locked_tree(source: FetchedSource, dest: Path) -> Path:
    """The package with a package-lock.json that npm resolves from the registry now."""
    tree = source.copy_tree(dest)
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=tree, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return tree


async def _events(sessions: Any, ref: ExecutionRef) -> list[tuple[str, dict[str, Any]]]:
    async with UnitOfWork(sessions) as uow:
        stored = await uow.events.read_after(uuid.UUID(ref.execution_id), 0, 1000)
    return [(e.event_type, e.payload) for e in stored]


async def _verified(
    harness: Harness, pipeline: FeaturePipeline, tenant: uuid.UUID, repo: uuid.UUID
) -> tuple[Run, float, list[tuple[str, dict[str, Any]]]]:
    run, _ = await applied(harness, pipeline, tenant, repo)
    started = time.monotonic()
    built = await run("verify", VerifyRequest(ref=run.ref, phase="build"))
    elapsed = time.monotonic() - started
    tested = await run("verify", VerifyRequest(ref=run.ref, phase="test"))
    assert built.passed and tested.passed, (built, tested)
    return run, elapsed, await _events(harness.sessions, run.ref)


def _untracked(worktree: Path) -> list[str]:
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=worktree,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line for line in done.stdout.splitlines() if "NOTES.md" not in line]


async def test_npm_ci_output_is_cached_per_lock_file_and_a_second_run_skips_setup(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    fastify_error_source: FetchedSource,
    tmp_path: Path,
) -> None:
    require_executable("node", "install Node.js 20+ (apt-get install nodejs)")
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    tree = _locked_tree(fastify_error_source, tmp_path / "fastify-error")
    lock = json.loads((tree / "package-lock.json").read_text())
    dependencies = [name for name in lock["packages"] if name.startswith("node_modules/")]
    assert (analyze_configured_repository(tree, None).setup_command or "").startswith("npm ci")
    assert len(dependencies) > 10  # c8, tstyche, eslint and what they need
    plain = run_plain(["node", "--test"], tree)
    tests = int(re.search(r"^# tests (\d+)", plain, re.M).group(1))  # type: ignore[union-attr]
    remote = git_remote(FetchedSource("npm", "@fastify/error", "locked", tree), tmp_path / "r.git")
    pipeline = pipeline_factory()
    try:
        tenant = uuid.uuid4()
        repo = await harness.repository(tenant, str(remote), {})

        first, cold_s, events = await _verified(harness, pipeline, tenant, repo)
        [setup] = [p for t, p in events if t == "build.completed" and p["phase"] == "setup"]
        assert setup["passed"] and not [t for t, _ in events if t == "setup.skipped"]
        [done] = [p for t, p in events if t == "test.completed"]
        assert done["tests"]["total"] == done["tests"]["passed"] == tests
        # npm ci wrote into the environment: the worktree holds only the empty mount point
        assert not any((first.worktree() / "node_modules").iterdir())
        [tenant_dir] = list((tmp_path / "state" / "environments").iterdir())
        [published] = [p for p in tenant_dir.iterdir() if not p.name.startswith(".")]
        assert (published / "node" / "node_modules" / ".bin" / "c8").exists()
        assert (published / "node" / "node_modules" / "tstyche" / "package.json").is_file()

        second, warm_s, events = await _verified(harness, pipeline, tenant, repo)
        [skipped] = [p for t, p in events if t == "setup.skipped"]
        assert skipped["reason"] == "cache_hit"
        assert not [p for t, p in events if t == "build.completed" and p["phase"] == "setup"]
        [done] = [p for t, p in events if t == "test.completed"]
        assert done["tests"]["total"] == done["tests"]["passed"] == tests
        assert _untracked(second.worktree()) == [] or all(
            line.startswith("?? coverage/") for line in _untracked(second.worktree())
        )  # c8's report is the tests' output, not setup's
        print(f"npm ci build verify: cold {cold_s:.1f} s, cached {warm_s:.1f} s")
        assert warm_s < cold_s
    finally:
        await pipeline.close()

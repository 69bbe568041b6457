"""Real open-source projects from PyPI through builder's own setup, build and test (the
verify activity, the sandbox, the cached environment, the egress proxy), each completing
with the test count its own runner reports when run directly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.pipeline import FeaturePipeline
from domain.contracts import VerifyRequest
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.fixtures.real_projects import (
    GO_CMP,
    fastify_error_source,
    go_cmp_source,
    go_consumer,
    itoa_source,
    more_itertools_source,
    packaging_source,
    packaging_test_python,
    run_plain,
)
from tests.fixtures.registry import FetchedSource, git_remote
from tests.fixtures.services import require_executable
from tests.integration.activities.conftest import applied

__all__ = [
    "fastify_error_source",
    "go_cmp_source",
    "itoa_source",
    "more_itertools_source",
    "packaging_source",
    "packaging_test_python",
]


def _count(pattern: str, text: str, default: int | None = None) -> int:
    match = re.search(pattern, text, re.M)
    if match is None:
        assert default is not None, f"no match for {pattern!r} in:\n{text[-2000:]}"
        return default
    return int(match.group(1))


def _untracked(worktree: Path) -> list[str]:
    """What `git add -A` would stage in the worktree (ignored files and empty folders not),
    but for the bytecode a Python build compiles (`python -m compileall`): the build's
    output, not an environment setup installed."""
    done = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=worktree,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [
        line for line in done.stdout.splitlines()
        if "BUILDER_NOTES.md" not in line and "__pycache__/" not in line
    ]  # fmt: skip


async def _verified(
    harness: Harness,
    pipeline: FeaturePipeline,
    source: FetchedSource,
    tmp_path: Path,
    again: tuple[uuid.UUID, uuid.UUID] | None = None,
    properties: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str], tuple[uuid.UUID, uuid.UUID]]:
    """The project through setup, build and test; its test.completed payload, events and
    (tenant, repository).
    `again`: a further execution of that (tenant, repository) instead of a new one."""
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    if again is None:
        remote = git_remote(source, tmp_path / f"{source.name}.git")
        tenant = uuid.uuid4()
        repo = await harness.repository(tenant, str(remote), properties or {})
    else:
        tenant, repo = again
    run, row = await applied(
        harness,
        pipeline,
        tenant,
        repo,
        [{"op": "write_file", "path": "BUILDER_NOTES.md", "content": "notes\n"}],
    )
    built = await run("verify", VerifyRequest(ref=run.ref, phase="build"))
    # what the tests write (coverage, say) is theirs; setup's environment is never there
    assert _untracked(run.worktree()) == [], "nothing setup made may be committable"
    tested = await run("verify", VerifyRequest(ref=run.ref, phase="test"))
    assert built.passed and tested.passed
    async with UnitOfWork(harness.sessions) as uow:
        events = await uow.events.read_after(row.id, 0, 1000)
    [payload] = [e.payload for e in events if e.event_type == "test.completed"]
    return payload, [e.event_type + ":" + str(e.payload.get("phase")) for e in events], (
        tenant, repo
    )  # fmt: skip


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
        payload, events, _ = await _verified(harness, pipeline, more_itertools_source, tmp_path)
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
        payload, events, _ = await _verified(harness, pipeline, packaging_source, tmp_path)
    finally:
        await pipeline.close()
    assert "build.completed:setup" in events
    tests = payload["tests"]
    assert (tests["passed"], tests["skipped"]) == (passed, skipped)
    assert tests["failed"] == tests["errors"] == 0 and passed > 1000


async def test_a_node_test_project_completes_with_the_count_node_reports(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    fastify_error_source: FetchedSource,
    tmp_path: Path,
) -> None:
    require_executable("node", "install Node.js 20+ (apt-get install nodejs)")
    tree = fastify_error_source.copy_tree(tmp_path / "direct")
    plain = run_plain(["node", "--test"], tree)  # TAP when stdout is not a terminal
    tests, passed = _count(r"^# tests (\d+)", plain), _count(r"^# pass (\d+)", plain)
    pipeline = pipeline_factory()
    try:
        payload, events, _ = await _verified(harness, pipeline, fastify_error_source, tmp_path)
    finally:
        await pipeline.close()
    assert "build.completed:setup" in events  # npm installed its dev dependencies
    counted = payload["tests"]
    assert (counted["total"], counted["passed"]) == (tests, passed)
    assert counted["failed"] == counted["errors"] == 0 and tests > 30


async def test_a_rust_crate_completes_with_the_count_cargo_lists_including_doc_tests(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    itoa_source: FetchedSource,
    tmp_path: Path,
) -> None:
    require_executable("cargo", "install Rust (rustup or apt-get install cargo)")
    tree = itoa_source.copy_tree(tmp_path / "direct")
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target"), "RUST_BACKTRACE": "0"}
    listed = run_plain(["cargo", "test", "--offline", "--quiet", "--", "--list"], tree, env)
    names = [line for line in listed.splitlines() if line.endswith(": test")]
    assert len(names) > 5 and [n for n in names if n.startswith("src/lib.rs - ")]
    pipeline = pipeline_factory()
    try:
        payload, events, where = await _verified(harness, pipeline, itoa_source, tmp_path)
        assert "build.completed:setup" in events and "build.completed:build" in events
        counted = payload["tests"]
        assert counted["total"] == counted["passed"] == len(names)
        # `cargo fetch` wrote the CARGO_HOME of the cached environment, not a run's HOME
        [tenant_dir] = list((tmp_path / "state" / "environments").iterdir())
        [published] = [p for p in tenant_dir.iterdir() if not p.name.startswith(".")]
        assert (published / "cargo" / ".package-cache").exists()
        # the same dependency state again: setup skipped, the same tests counted
        payload, events, _ = await _verified(harness, pipeline, itoa_source, tmp_path, where)
        assert "setup.skipped:setup" in events and "build.completed:setup" not in events
        assert payload["tests"] == counted
    finally:
        await pipeline.close()
    assert counted["failed"] == counted["errors"] == 0


def _go_test_counts(output: str) -> dict[str, int]:
    """The tests (subtests included) `go test -json` reports, by terminal action."""
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        if event.get("Test") and event.get("Action") in counts:
            counts[event["Action"]] += 1
    return counts


async def test_a_go_module_completes_with_the_count_go_test_json_reports(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    go_cmp_source: FetchedSource,
    tmp_path: Path,
) -> None:
    require_executable("go", "install Go (apt-get install golang-go)")
    tree = go_cmp_source.copy_tree(tmp_path / "direct")
    env = {"GOCACHE": str(tmp_path / "gocache"), "GOMODCACHE": str(tmp_path / "gomod"),
           "GOPROXY": "off", "GOFLAGS": "-modcacherw"}  # fmt: skip
    direct = _go_test_counts(run_plain(["go", "test", "-json", "./..."], tree, env))
    assert direct["pass"] > 500 and direct["fail"] == 0
    pipeline = pipeline_factory()
    try:
        payload, events, where = await _verified(harness, pipeline, go_cmp_source, tmp_path)
        assert "build.completed:setup" in events and "build.completed:build" in events
        counted = payload["tests"]
        assert counted["total"] == sum(direct.values())
        assert (counted["passed"], counted["skipped"]) == (direct["pass"], direct["skip"])
        # the same dependency state again: setup skipped, build and test offline, same count
        payload, events, _ = await _verified(harness, pipeline, go_cmp_source, tmp_path, where)
        assert "setup.skipped:setup" in events and "build.completed:setup" not in events
        assert payload["tests"] == counted
    finally:
        await pipeline.close()
    assert counted["failed"] == counted["errors"] == 0


async def test_a_go_modules_dependencies_come_from_setups_cached_module_cache(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    go_cmp_source: FetchedSource,
    tmp_path: Path,
) -> None:
    """`go mod download` in setup (from a proxy committed in the repository: the real one is
    unreachable here) fills the environment's GOMODCACHE; build and test, offline, compile
    against it, and a second execution does so with setup skipped."""
    require_executable("go", "install Go (apt-get install golang-go)")
    source = go_consumer(go_cmp_source, GO_CMP[2], tmp_path / "consumer")
    tree = source.copy_tree(tmp_path / "direct")
    env = {"GOCACHE": str(tmp_path / "gocache"), "GOMODCACHE": str(tmp_path / "consumer-gomod"),
           "GOPROXY": "off"}  # fmt: skip
    direct = _go_test_counts(run_plain(["go", "test", "-json", "./..."], tree, env))
    assert direct == {"pass": 4, "fail": 0, "skip": 0}
    setup = "GOPROXY=file:///workspace/.goproxy GOSUMDB=off go mod download"
    pipeline = pipeline_factory()
    try:
        payload, events, where = await _verified(
            harness, pipeline, source, tmp_path, properties={"setup_command": setup}
        )
        assert "build.completed:setup" in events and "build.completed:build" in events
        assert (payload["tests"]["total"], payload["tests"]["passed"]) == (4, 4)
        [tenant_dir] = list((tmp_path / "state" / "environments").iterdir())
        [published] = [p for p in tenant_dir.iterdir() if not p.name.startswith(".")]
        version = "v" + GO_CMP[1].split("-")[0]
        assert (published / "go" / "mod" / f"{GO_CMP[2]}@{version}" / "go.mod").is_file()
        payload, events, _ = await _verified(
            harness, pipeline, source, tmp_path, where, properties={"setup_command": setup}
        )
        assert "setup.skipped:setup" in events and "build.completed:setup" not in events
        assert (payload["tests"]["total"], payload["tests"]["passed"]) == (4, 4)
    finally:
        await pipeline.close()

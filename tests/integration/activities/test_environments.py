"""The repository's environment through the verify activity: setup creates it once per
tenant and dependency state, build and test use it read-only, a second execution on the same
dependency state skips setup, and the tests import the worktree's code, never a copy
installed in the interpreter the environment is made from."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from activities.pipeline import FeaturePipeline
from activities.sandbox.environments import EnvironmentStore
from domain.contracts import ExecutionRef, VerifyRequest
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.fixtures.registry import FetchedSource, cache_root, git_remote
from tests.fixtures.services import require_executable
from tests.integration.activities.conftest import Run, applied

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "greetlib"
version = "0.1.0"

[project.optional-dependencies]
test = ["pytest"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""
TEST = """\
import greetlib


def test_the_worktree_s_code_is_under_test():
    assert greetlib.SOURCE == "worktree", greetlib.__file__
    assert greetlib.__file__.startswith("/workspace/src/")
"""


def src_layout_project(root: Path) -> Path:
    (root / "src" / "greetlib").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "src" / "greetlib" / "__init__.py").write_text('SOURCE = "worktree"\n')
    (root / "tests" / "test_source.py").write_text(TEST)
    return root


@pytest.fixture
def stand_in_interpreter() -> Iterator[Path]:
    """A worker interpreter with greetlib already installed in its site-packages (a stale
    copy). It lives outside /tmp, which the sandbox replaces with the run's own."""
    root = Path(tempfile.mkdtemp(prefix="stand-in-", dir=cache_root()))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
        [site] = list(root.glob("lib/python*/site-packages"))
        (site / "greetlib").mkdir()
        (site / "greetlib" / "__init__.py").write_text('SOURCE = "installed"\n')
        yield root / "bin" / "python"
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _events(sessions: Any, ref: ExecutionRef) -> list[tuple[str, dict[str, Any]]]:
    async with UnitOfWork(sessions) as uow:
        stored = await uow.events.read_after(uuid.UUID(ref.execution_id), 0, 1000)
    return [(e.event_type, e.payload) for e in stored]


async def _execution(
    harness: Harness, pipeline: FeaturePipeline, tenant: uuid.UUID, repo: uuid.UUID
) -> Run:
    run, _ = await applied(harness, pipeline, tenant, repo)
    return run


async def test_setup_builds_the_environment_once_and_tests_use_the_worktree_s_code(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    stand_in_interpreter: Path,
    tmp_path: Path,
) -> None:
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    tree = src_layout_project(tmp_path / "greetlib")
    # the hazard is real: the stand-in interpreter imports its installed copy
    stale = subprocess.run(
        [str(stand_in_interpreter), "-c", "import greetlib; print(greetlib.SOURCE)"],
        cwd=tree, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert stale.stdout.strip() == "installed"
    remote = git_remote(FetchedSource("local", "greetlib", "0.1.0", tree), tmp_path / "r.git")
    pipeline = pipeline_factory(environment_python=str(stand_in_interpreter))
    try:
        tenant = uuid.uuid4()
        repo = await harness.repository(tenant, str(remote), {})

        first = await _execution(harness, pipeline, tenant, repo)
        built = await first("verify", VerifyRequest(ref=first.ref, phase="build"))
        tested = await first("verify", VerifyRequest(ref=first.ref, phase="test"))

        assert built.passed and tested.passed, (built, tested)
        assert tested.summary == "1/1 tests passed"
        events = await _events(harness.sessions, first.ref)
        setups = [p for t, p in events if t == "build.completed" and p["phase"] == "setup"]
        assert [s["passed"] for s in setups] == [True]
        assert not [t for t, _ in events if t == "setup.skipped"]
        # the environment lives outside the worktree, so no commit can pick it up
        assert not list(first.worktree().rglob("pyvenv.cfg"))
        [tenant_dir] = list((tmp_path / "state" / "environments").iterdir())
        assert tenant_dir.name == str(tenant)
        [published] = [p for p in tenant_dir.iterdir() if not p.name.startswith(".")]
        assert (published / "python" / "bin" / "pytest").is_file()

        second = await _execution(harness, pipeline, tenant, repo)
        built = await second("verify", VerifyRequest(ref=second.ref, phase="build"))
        tested = await second("verify", VerifyRequest(ref=second.ref, phase="test"))

        assert built.passed and tested.summary == "1/1 tests passed"
        events = await _events(harness.sessions, second.ref)
        [skipped] = [p for t, p in events if t == "setup.skipped"]
        assert skipped == {"phase": "setup", "reason": "cache_hit", "environment": published.name}
        assert not [p for t, p in events if t == "build.completed" and p["phase"] == "setup"]

        # another tenant's execution of the same repository never gets this environment
        other = uuid.uuid4()
        other_repo = await harness.repository(other, str(remote), {})
        third = await _execution(harness, pipeline, other, other_repo)
        await third("verify", VerifyRequest(ref=third.ref, phase="build"))
        events = await _events(harness.sessions, third.ref)
        assert not [t for t, _ in events if t == "setup.skipped"]
        assert (tmp_path / "state" / "environments" / str(other)).is_dir()
    finally:
        await pipeline.close()


async def test_the_tests_build_the_environment_again_when_it_is_gone_after_the_build(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    stand_in_interpreter: Path,
    tmp_path: Path,
) -> None:
    """Evicted (or removed) between build and test: the test activity sets up again, within
    its timeout (PhaseTimeouts.verify_limit counts setup for the tests), and the run goes on."""
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    tree = src_layout_project(tmp_path / "greetlib")
    remote = git_remote(FetchedSource("local", "greetlib", "0.1.0", tree), tmp_path / "r.git")
    pipeline = pipeline_factory(environment_python=str(stand_in_interpreter))
    try:
        tenant = uuid.uuid4()
        repo = await harness.repository(tenant, str(remote), {})
        run = await _execution(harness, pipeline, tenant, repo)
        built = await run("verify", VerifyRequest(ref=run.ref, phase="build"))
        assert built.passed, built
        tenant_dir = tmp_path / "state" / "environments" / str(tenant)
        [published] = [p for p in tenant_dir.iterdir() if not p.name.startswith(".")]
        shutil.rmtree(published)

        tested = await run("verify", VerifyRequest(ref=run.ref, phase="test"))

        assert tested.passed and tested.summary == "1/1 tests passed", tested
        events = await _events(harness.sessions, run.ref)
        setups = [p for t, p in events if t == "build.completed" and p["phase"] == "setup"]
        assert [s["passed"] for s in setups] == [True, True]  # the build's, then the tests'
        assert (published / "python" / "bin" / "pytest").is_file()  # published again
        # the activities released their leases: a purge over a tiny cap may now remove it
        capped = EnvironmentStore(tmp_path / "state" / "environments", max_bytes=1)
        assert capped.purge(7 * 24 * 3600, 12 * 3600) == 1 and not published.exists()
    finally:
        await pipeline.close()

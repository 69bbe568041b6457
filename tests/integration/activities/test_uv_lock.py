"""A project with a uv.lock through builder's setup, build and test: setup installs exactly
the lock (`uv sync --frozen`) into the cached environment, not what pip would resolve from
pyproject.toml today. The lock is made at test time from PyPI with a pin the manifest then
drops, so a resolution would pick a newer version than the lock names."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from activities.analysis.repo_config import analyze_configured_repository
from activities.pipeline import FeaturePipeline
from activities.sandbox.python_env import uv_executable
from domain.contracts import VerifyRequest
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.fixtures.registry import FetchedSource, git_remote
from tests.fixtures.services import require_executable
from tests.integration.activities.conftest import applied

LOCKED_SIX = "1.16.0"  # six's newest is 1.17.0: only the lock says 1.16.0
PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "lockedlib"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["six{pin}"]

[dependency-groups]
dev = ["pytest"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.setuptools]
packages = ["lockedlib"]
"""
TEST = f"""\
import importlib.metadata

import lockedlib


def test_the_locked_version_is_installed():
    assert importlib.metadata.version("six") == "{LOCKED_SIX}"


def test_the_worktree_s_code_is_under_test():
    assert lockedlib.__file__.startswith("/workspace/")
"""


def _project(root: Path, uv: str) -> Path:
    (root / "lockedlib").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "lockedlib" / "__init__.py").write_text("")
    (root / "tests" / "test_lock.py").write_text(TEST)
    (root / "pyproject.toml").write_text(PYPROJECT.format(pin=f"=={LOCKED_SIX}"))
    subprocess.run(
        [uv, "lock", "--python", sys.executable, "--no-python-downloads", "--quiet"],
        cwd=root, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (root / "pyproject.toml").write_text(PYPROJECT.format(pin=">=1.15"))
    return root


async def test_setup_installs_exactly_the_uv_lock_into_the_cached_environment(
    harness: Harness, pipeline_factory: Callable[..., FeaturePipeline], tmp_path: Path
) -> None:
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    uv = uv_executable()
    assert uv is not None, "uv is a runtime dependency of builder (pyproject.toml)"
    tree = _project(tmp_path / "lockedlib", uv)
    lock = (tree / "uv.lock").read_text()
    assert f'name = "six"\nversion = "{LOCKED_SIX}"' in lock and 'name = "pytest"' in lock
    [python] = analyze_configured_repository(tree, None).setup_plan.environments
    assert python.kind == "python" and python.lock_tool == "uv"
    remote = git_remote(FetchedSource("local", "lockedlib", "0.1.0", tree), tmp_path / "r.git")
    pipeline = pipeline_factory()
    try:
        tenant = uuid.uuid4()
        repo = await harness.repository(tenant, str(remote), {})
        run, row = await applied(harness, pipeline, tenant, repo)
        built = await run("verify", VerifyRequest(ref=run.ref, phase="build"))
        tested = await run("verify", VerifyRequest(ref=run.ref, phase="test"))
        assert built.passed and tested.passed, (built, tested)
        assert tested.summary == "2/2 tests passed"
        async with UnitOfWork(harness.sessions) as uow:
            events = await uow.events.read_after(row.id, 0, 1000)
        assert [e for e in events if e.event_type == "build.completed"
                and e.payload["phase"] == "setup"]  # fmt: skip
        [tenant_dir] = list((tmp_path / "state" / "environments").iterdir())
        [published] = [p for p in tenant_dir.iterdir() if not p.name.startswith(".")]
        assert list(published.glob(f"python/lib/python*/site-packages/six-{LOCKED_SIX}.dist-info"))
        assert not list(run.worktree().rglob("pyvenv.cfg")), (
            "the environment is not in the worktree"
        )
    finally:
        await pipeline.close()

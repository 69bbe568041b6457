"""Fixtures of the sandbox tests: a real bubblewrap runner and a scratch worktree."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.sandbox import SandboxConfig, SandboxRunner
from tests.fixtures.services import require_executable


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    return path


@pytest.fixture
def runner() -> SandboxRunner:
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    runner = SandboxRunner(SandboxConfig())
    assert runner.sandboxed(), "bubblewrap is installed but cannot create a sandbox here"
    return runner


@pytest.fixture
def bare_runner() -> SandboxRunner:
    """Unsandboxed mode, as when bubblewrap is missing and the operator allowed it."""
    return SandboxRunner(SandboxConfig(allow_unsandboxed=True, bwrap_path="/nonexistent/bwrap"))

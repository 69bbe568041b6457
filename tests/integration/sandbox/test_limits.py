"""Memory and CPU limits apply to the sandboxed command."""

from __future__ import annotations

import sys
from pathlib import Path

from activities.sandbox import SandboxConfig, SandboxRunner
from activities.sandbox.config import MiB
from tests.fixtures.services import require_executable


def _runner(**limits: int) -> SandboxRunner:
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    return SandboxRunner(SandboxConfig(**limits))  # type: ignore[arg-type]


def test_allocating_past_the_memory_limit_fails(worktree: Path) -> None:
    grab = "b = bytearray(600 * 1024 * 1024); print('allocated')"
    limited = _runner(memory_limit_bytes=300 * MiB).run(
        [sys.executable, "-c", grab], worktree, timeout_s=30
    )
    assert limited.exit_code != 0
    assert "MemoryError" in limited.output
    generous = _runner().run([sys.executable, "-c", grab], worktree, timeout_s=30)
    assert "allocated" in generous.output


def test_burning_cpu_past_the_limit_kills_the_command(worktree: Path) -> None:
    spin = "while True: pass"
    result = _runner(cpu_seconds=1).run([sys.executable, "-c", spin], worktree, timeout_s=20)
    assert not result.timed_out
    assert result.exit_code != 0
    assert result.duration_s < 10

"""Timeouts and cancellation end the whole process tree; huge output keeps memory bounded."""

from __future__ import annotations

import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from activities.sandbox import PhaseTimedOut, SandboxRunner, run_phase

START_DAEMONS = textwrap.dedent(
    """
    import os, subprocess, sys, time

    SLEEPER = "import time; time.sleep(600)"

    def start_daemons():
        marker = os.environ["DAEMON_MARKER"]
        # A daemon in its own session, out of the runner's process group.
        subprocess.Popen(["setsid", sys.executable, "-c", SLEEPER, marker],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # A classic double-forked daemon, reparented away from the test process.
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", SLEEPER, marker])
            os._exit(0)
        print("daemons started", flush=True)
    """
)
HANGING_SUITE = START_DAEMONS + textwrap.dedent(
    """
    def test_starts_daemons_and_hangs():
        start_daemons()
        time.sleep(600)
    """
)


def _processes_with(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(marker in a for a in cmdline):
            found.append(proc)
    return found


def _daemon_watch(marker: str) -> tuple[list[int], Callable[[str], None]]:
    """A line callback that counts the marked daemons once the command says it started
    them, and the list it counts into."""
    seen: list[int] = []

    def watch(line: str) -> None:
        if "daemons started" in line:
            seen.append(_count_daemons(marker))

    return seen, watch


def _count_daemons(marker: str) -> int:
    """How many marked daemons run, waiting up to 2 s for both to have exec'd."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        count = len(_processes_with(marker))
        if count >= 2:
            return count
        time.sleep(0.05)
    return len(_processes_with(marker))


@pytest.mark.parametrize("mode", ["sandboxed", "unsandboxed"])
def test_hanging_suite_with_daemons_is_killed_at_timeout_and_nothing_remains(
    mode: str, runner: SandboxRunner, bare_runner: SandboxRunner, worktree: Path
) -> None:
    chosen = runner if mode == "sandboxed" else bare_runner
    (worktree / "test_hang.py").write_text(HANGING_SUITE)
    marker = f"daemon-marker-{uuid.uuid4().hex}"
    seen_daemons, watch = _daemon_watch(marker)

    # The inner pytest would import every plugin installed here (hypothesis, schemathesis...):
    # 2-3 s on a loaded machine, which used to eat most of the timeout before the daemons
    # started, so the run sometimes ended before they ever existed.
    env = {"DAEMON_MARKER": marker, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    started = time.monotonic()
    with pytest.raises(PhaseTimedOut) as caught:
        run_phase(
            "test", "python -m pytest -q -s test_hang.py", worktree, required=True,
            timeout_s=6, runner=chosen, on_line=watch, env=env,
        )  # fmt: skip
    elapsed = time.monotonic() - started
    assert seen_daemons and seen_daemons[0] >= 2, "the daemons never ran, the test proves nothing"
    assert elapsed < 10
    assert caught.value.code.value == "timeout"
    assert caught.value.result.timed_out
    assert "timed out after 6 s" in caught.value.message
    assert _processes_with(marker) == []


def test_fifty_megabytes_of_output_keep_memory_bounded_and_the_log_capped(
    runner: SandboxRunner, worktree: Path
) -> None:
    me = psutil.Process()
    baseline = me.memory_info().rss
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, me.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    lines = 0

    def count(_: str) -> None:
        nonlocal lines
        lines += 1

    try:
        result = runner.run(
            "yes 'the quick brown fox jumps over the lazy dog, printed again and again and again'"
            " | head -c 52428800",
            worktree, timeout_s=60, on_line=count,
        )  # fmt: skip
    finally:
        stop.set()
        sampler.join()
    assert result.exit_code == 0
    assert lines > 600_000  # every line was streamed to the callback
    assert result.truncated
    assert len(result.output.encode()) <= 2 * 1024 * 1024 + 512
    assert "of output elided" in result.output
    assert peak - baseline < 30 * 1024 * 1024, f"runner grew by {(peak - baseline) >> 20} MiB"


def test_fifty_megabytes_without_a_newline_are_capped_too(
    runner: SandboxRunner, worktree: Path
) -> None:
    result = runner.run("head -c 52428800 /dev/zero | tr '\\0' x", worktree, timeout_s=60)
    assert result.exit_code == 0
    assert result.truncated
    assert len(result.output.encode()) <= 2 * 1024 * 1024 + 512


@pytest.mark.parametrize("mode", ["sandboxed", "unsandboxed"])
def test_cancel_during_a_long_command_stops_it_within_a_second(
    mode: str, runner: SandboxRunner, bare_runner: SandboxRunner, worktree: Path
) -> None:
    chosen = runner if mode == "sandboxed" else bare_runner
    marker = f"cancel-marker-{uuid.uuid4().hex}"
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_soon(line: str) -> None:
        if line == "running" and not cancelled_at:
            threading.Timer(
                0.3, lambda: (cancelled_at.append(time.monotonic()), cancel.set())
            ).start()

    result = chosen.run(
        f"echo running; trap '' TERM; sleep 60 {marker} || sleep 60", worktree, timeout_s=60,
        on_line=cancel_soon, cancel=cancel,
    )  # fmt: skip
    finished = time.monotonic()
    assert result.cancelled and not result.timed_out
    assert cancelled_at, "the command never printed, so cancel was never requested"
    assert finished - cancelled_at[0] < 1.0
    assert _processes_with(marker) == []


LEAVES_DAEMONS = START_DAEMONS + textwrap.dedent(
    """
    start_daemons()
    time.sleep(1)  # long enough for the test to see them; then exit 0, leaving them
    """
)


@pytest.mark.parametrize("mode", ["sandboxed", "unsandboxed"])
def test_daemons_a_build_leaves_behind_when_it_exits_on_its_own_are_killed(
    mode: str, runner: SandboxRunner, bare_runner: SandboxRunner, worktree: Path
) -> None:
    chosen = runner if mode == "sandboxed" else bare_runner
    (worktree / "leave_daemons.py").write_text(LEAVES_DAEMONS)
    marker = f"daemon-marker-{uuid.uuid4().hex}"
    seen_daemons, watch = _daemon_watch(marker)
    result = run_phase(
        "build", "python leave_daemons.py", worktree, required=True, timeout_s=30,
        runner=chosen, on_line=watch, env={"DAEMON_MARKER": marker},
    )  # fmt: skip
    assert seen_daemons and seen_daemons[0] >= 2, "the daemons never ran, the test proves nothing"
    assert result.exit_code == 0 and not result.timed_out
    assert _processes_with(marker) == []

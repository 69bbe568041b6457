"""Runs one untrusted command: isolated, bounded in time, memory, CPU and output, and killable.

The runner is synchronous on purpose: activities call it from a thread and pass a
`threading.Event` that is set when Temporal cancels them. Output is read from a pipe in the
calling thread, a chunk at a time, so memory stays bounded however much the command prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from activities.sandbox import filesystem as fs
from activities.sandbox.bubblewrap import (
    EnvironmentMount,
    Launch,
    SandboxLayout,
    bubblewrap_launch,
    bubblewrap_problem,
    plan_mounts,
)
from activities.sandbox.config import SandboxConfig
from activities.sandbox.egress import EgressPolicy, EgressSession, start_egress
from activities.sandbox.environment import build_environment
from activities.sandbox.output import CappedOutput, LineSplitter
from activities.sandbox.process_tree import terminate_run
from domain.errors import PolicyViolation, SandboxUnavailable

_POLL_S = 0.05
_DRAIN_S = 2.0


@dataclass(frozen=True)
class CommandResult:
    """What one run produced; `output` is capped (head and tail, middle elided)."""

    exit_code: int
    duration_s: float
    output: str
    truncated: bool
    timed_out: bool
    cancelled: bool
    sandboxed: bool
    # what setup's egress proxy allowed and refused, one line each
    egress_log: tuple[str, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled


def command_argv(command: str | Sequence[str]) -> list[str]:
    """A shell line runs under /bin/sh -c; a list runs as given."""
    if isinstance(command, str):
        if not command.strip():
            raise ValueError("command is empty")
        return ["/bin/sh", "-c", command]
    argv = list(command)
    if not argv:
        raise ValueError("command is empty")
    return argv


def command_text(command: str | Sequence[str]) -> str:
    return command if isinstance(command, str) else shlex.join(command)


class SandboxRunner:
    """Executes commands in a bubblewrap sandbox (or, when allowed, a scrubbed bare process)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()

    def sandboxed(self) -> bool:
        """True when commands will run under bubblewrap; raises when they may not run at all."""
        problem = bubblewrap_problem(self.config)
        if problem is None:
            return True
        if self.config.allow_unsandboxed:
            return False
        raise SandboxUnavailable(
            f"refusing to run an untrusted command without a sandbox: {problem}. Install "
            "bubblewrap (e.g. `apt-get install bubblewrap` or `dnf install bubblewrap`) on the "
            "worker, or explicitly allow unsandboxed runs with the sandbox setting "
            "allow_unsandboxed=true (commands then see the worker's filesystem and network: "
            "unsafe, for development machines only)",
            details={"bwrap_path": self.config.bwrap_path, "problem": problem},
        )

    def reports_path(self, reports_dir: Path) -> str:
        """Where a command finds `reports_dir`: a fixed path in the sandbox, else the host's."""
        return fs.REPORTS if self.sandboxed() else str(reports_dir)

    def tools_path(self, tools_dir: Path) -> str:
        """Where a command finds builder's `tools_dir` (read-only in the sandbox)."""
        return fs.TOOLS if self.sandboxed() else str(tools_dir)

    def run(
        self,
        command: str | Sequence[str],
        cwd: Path,
        *,
        timeout_s: float,
        allow_network: bool = False,
        on_line: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        env: Mapping[str, str] | None = None,
        reports_dir: Path | None = None,
        tools_dir: Path | None = None,
        environment: EnvironmentMount | None = None,
        egress: EgressPolicy | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run `command` in the worktree `cwd`, the only writable place besides the run's
        home and /tmp, `reports_dir` and a writable `environment`. In the sandbox the
        worktree is /workspace (its .git read-only), the reports dir /builder/reports and the
        environment /env; unsandboxed runs see host paths and no /env. Never raises for the
        command's own failure: exit code, timeout and cancellation are in the result. Raises
        SandboxUnavailable, PolicyViolation (a secret variable in `env`, a worktree whose .git
        is not a directory) or ValueError (empty command, missing cwd).

        With an `egress` policy the command gets no network of its own, only the egress
        proxy (activities.sandbox.egress) at HTTPS_PROXY; unsandboxed, it is a plain
        networked run. `secrets` (setup-only secrets) are set as given, after every other
        variable; the caller redacts them from what the command printed."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        worktree = Path(os.path.realpath(cwd))
        if not worktree.is_dir():
            raise ValueError(f"working directory {cwd} does not exist or is not a directory")
        argv = command_argv(command)
        sandboxed = self.sandboxed()
        scratch = Path(tempfile.mkdtemp(prefix="sandbox-run-", dir=self.config.scratch_root))
        session = None
        try:
            if egress is not None and sandboxed:
                session = start_egress(egress, scratch, sys.executable)
                argv = session.wrap(argv)
                env = {**EgressSession.variables(), **(env or {})}
            elif egress is not None:
                allow_network = True  # unsandboxed: nothing to contain, the host's network
            layout = SandboxLayout(
                worktree=worktree,
                home=scratch / "home",
                tmp=scratch / "tmp",
                reports=Path(os.path.realpath(reports_dir)) if reports_dir else None,
                tools=Path(os.path.realpath(tools_dir)) if tools_dir else None,
                environment=environment,
                egress=session.directory if session is not None else None,
            )
            result = self._run_in(
                argv, layout, sandboxed, timeout_s, allow_network, on_line, cancel, env,
                dict(secrets or {}),
            )  # fmt: skip
            if session is not None:
                result = dataclasses.replace(result, egress_log=tuple(session.stop()))
            return result
        finally:
            if session is not None:
                session.stop()
            shutil.rmtree(scratch, ignore_errors=True)

    def _prepare(
        self,
        argv: list[str],
        layout: SandboxLayout,
        sandboxed: bool,
        allow_network: bool,
        env: Mapping[str, str] | None,
        marker: str,
    ) -> tuple[list[str], dict[str, str], Launch | None]:
        """The argv to start, its environment, and the sandbox's descriptors (if any)."""
        layout.home.mkdir()
        layout.tmp.mkdir()
        fixed = dict(self.config.fixed_env)
        if not sandboxed:
            child_env = build_environment(
                os.environ, self.config.env_passthrough, fixed, env,
                home=str(layout.home), tmpdir=str(layout.tmp), marker=marker,
            )  # fmt: skip
            return argv, child_env, None
        path_env = os.environ.get("PATH", "")
        try:
            plan = plan_mounts(self.config, layout, path_env=path_env, environ=os.environ)
        except ValueError as exc:
            raise PolicyViolation(str(exc), details={"worktree": str(layout.worktree)}) from None
        user = self.config.sandbox_user
        fixed = {**plan.variables, "USER": user, "LOGNAME": user, **fixed}
        child_env = build_environment(
            os.environ, self.config.env_passthrough, fixed, env,
            home=fs.HOME, tmpdir=fs.TMP, marker=marker,
        )  # fmt: skip
        launch = bubblewrap_launch(self.config, plan, argv, allow_network=allow_network)
        return launch.argv, child_env, launch

    def _run_in(
        self,
        argv: list[str],
        layout: SandboxLayout,
        sandboxed: bool,
        timeout_s: float,
        allow_network: bool,
        on_line: Callable[[str], None] | None,
        cancel: threading.Event | None,
        env: Mapping[str, str] | None,
        secrets: dict[str, str],
    ) -> CommandResult:
        marker = uuid.uuid4().hex
        argv, child_env, launch = self._prepare(argv, layout, sandboxed, allow_network, env, marker)
        child_env.update(secrets)
        try:
            return self._execute(
                argv, layout.worktree, child_env, launch, marker, sandboxed, timeout_s,
                on_line, cancel,
            )  # fmt: skip
        finally:
            if launch is not None:
                launch.close()

    def _execute(
        self,
        argv: list[str],
        worktree: Path,
        child_env: dict[str, str],
        launch: Launch | None,
        marker: str,
        sandboxed: bool,
        timeout_s: float,
        on_line: Callable[[str], None] | None,
        cancel: threading.Event | None,
    ) -> CommandResult:
        argv, preexec = self._with_limits(argv)
        capture = CappedOutput(self.config.output_cap_bytes)
        splitter = LineSplitter(self.config.max_line_bytes)

        def emit(lines: list[str]) -> None:
            for line in lines:
                capture.add(line)
                if on_line is not None:
                    on_line(line)

        started = time.monotonic()
        deadline = started + timeout_s
        proc = subprocess.Popen(
            argv,
            cwd=worktree,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
            pass_fds=launch.fds if launch is not None else (),
        )
        if launch is not None:
            launch.close()  # bubblewrap holds its own copies now
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        timed_out = cancelled = False
        try:
            timed_out, cancelled = self._pump(proc, fd, splitter, emit, deadline, cancel)
        finally:
            terminate_run(
                proc.pid, marker, self.config.kill_grace_s, lambda: proc.poll() is not None
            )
            proc.wait()
            self._drain(fd, splitter, emit)
            proc.stdout.close()
        emit(splitter.flush())
        return CommandResult(
            exit_code=proc.returncode,
            duration_s=round(time.monotonic() - started, 3),
            output=capture.render(),
            truncated=capture.truncated,
            timed_out=timed_out,
            cancelled=cancelled,
            sandboxed=sandboxed,
        )

    @staticmethod
    def _pump(
        proc: subprocess.Popen[bytes],
        fd: int,
        splitter: LineSplitter,
        emit: Callable[[list[str]], None],
        deadline: float,
        cancel: threading.Event | None,
    ) -> tuple[bool, bool]:
        """Read output until the command ends; (timed_out, cancelled)."""
        eof = False
        while True:
            if cancel is not None and cancel.is_set():
                return False, True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True, False
            if eof:
                # the pipe closes a moment before the process can be reaped: wait for it
                # (Popen.wait polls from 0.5 ms up) rather than sleep a whole poll interval
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=min(_POLL_S, remaining))
                if proc.poll() is not None:
                    return False, False
                continue
            readable, _, _ = select.select([fd], [], [], min(_POLL_S, remaining))
            if readable:
                chunk = _read(fd)
                if chunk == b"":
                    eof = True
                elif chunk is not None:
                    emit(splitter.feed(chunk))
            elif proc.poll() is not None:
                # The command is done; a daemon it left may hold the pipe open, and the
                # final kill takes care of it.
                return False, False

    @staticmethod
    def _drain(fd: int, splitter: LineSplitter, emit: Callable[[list[str]], None]) -> None:
        """Read what is left in the pipe once every writer is dead (bounded in time)."""
        stop = time.monotonic() + _DRAIN_S
        while time.monotonic() < stop:
            readable, _, _ = select.select([fd], [], [], _POLL_S)
            if not readable:
                return
            chunk = _read(fd)
            if not chunk:
                return
            emit(splitter.feed(chunk))

    def _with_limits(self, argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
        """Resource limits: via prlimit(1) when present (fork-safe), else setrlimit in the child."""
        limits: list[tuple[str, int, int]] = [("core", resource.RLIMIT_CORE, 0)]
        if self.config.memory_limit_bytes is not None:
            kind = self.config.memory_limit_kind
            res = resource.RLIMIT_DATA if kind == "data" else resource.RLIMIT_AS
            limits.append((kind, res, self.config.memory_limit_bytes))
        if self.config.cpu_seconds is not None:
            limits.append(("cpu", resource.RLIMIT_CPU, self.config.cpu_seconds))
        if self.config.file_size_limit_bytes is not None:
            limits.append(("fsize", resource.RLIMIT_FSIZE, self.config.file_size_limit_bytes))
        # An unprivileged worker cannot raise a hard limit, only lower it.
        limits = [(name, res, _capped(res, value)) for name, res, value in limits]
        prlimit = shutil.which(self.config.prlimit_path)
        if prlimit is not None:
            options = [f"--{name}={value}:{value}" for name, _, value in limits]
            return [prlimit, *options, "--", *argv], None

        def apply_limits() -> None:
            for _, res, value in limits:
                resource.setrlimit(res, (value, value))

        return argv, apply_limits


def _capped(res: int, value: int) -> int:
    _, hard = resource.getrlimit(res)
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


def _read(fd: int) -> bytes | None:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None

"""Setup, build and test phases: a sandboxed run plus what it means for the execution.

A phase turns a CommandResult into a PhaseResult (with parsed test and coverage reports for
the test phase) and raises the seed's build_failed / test_failed / timeout errors. The
PhaseResult travels on the exception as `.result` so the caller can store the log as an
artifact even when the phase failed.
"""

from __future__ import annotations

import base64
import dataclasses
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from activities.sandbox.bubblewrap import EnvironmentMount
from activities.sandbox.egress import EgressPolicy
from activities.sandbox.reports.capture import collectors_dir, plan_capture, unittest_collector_path
from activities.sandbox.reports.collect import collect_reports
from activities.sandbox.reports.coverage import CoverageReport
from activities.sandbox.reports.junit import TestReport, merge_reports
from activities.sandbox.runner import SandboxRunner, command_text
from domain.errors import BuildFailed, CommandTimedOut, TestsFailed
from domain.redaction import redact

PhaseKind = Literal["setup", "build", "test"]

LOG_TAIL_BYTES = 4096
MAX_FAILING_TESTS = 20

_PROPERTY_OF: dict[str, str] = {
    "setup": "setup_command",
    "build": "build_command",
    "test": "test_command",
}
_CONSTRAINT_OF: dict[str, str] = {
    "setup": "require_build",
    "build": "require_build",
    "test": "require_tests",
}


@dataclass(frozen=True)
class PhaseResult:
    """Outcome of one phase; `log` is the capped output (the build_log artifact)."""

    kind: PhaseKind
    command: str | None
    exit_code: int | None
    duration_s: float
    log: str
    skipped: bool
    test_report: TestReport | None = None
    coverage: CoverageReport | None = None
    truncated: bool = False
    timed_out: bool = False
    cancelled: bool = False
    sandboxed: bool = True
    # host:port setup's egress proxy refused (why a download failed)
    egress_refused: tuple[str, ...] = ()

    @property
    def log_tail(self) -> str:
        data = self.log.encode("utf-8", errors="replace")
        return data[-LOG_TAIL_BYTES:].decode("utf-8", errors="replace")


class BuildPhaseFailed(BuildFailed):
    """A setup or build command failed (or was required and missing); carries the result."""

    def __init__(self, message: str, *, result: PhaseResult, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        self.result = result


class TestPhaseFailed(TestsFailed):
    """The test command failed, tests failed, or tests were required and none were found."""

    __test__ = False

    def __init__(self, message: str, *, result: PhaseResult, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        self.result = result


class PhaseTimedOut(CommandTimedOut):
    """A phase ran past its wall-clock limit; its whole process tree was killed."""

    def __init__(self, message: str, *, result: PhaseResult, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        self.result = result


def run_phase(
    kind: PhaseKind,
    command: str | Sequence[str] | None,
    worktree: Path,
    *,
    required: bool,
    timeout_s: float,
    runner: SandboxRunner,
    allow_network: bool = False,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    env: Mapping[str, str] | None = None,
    environment: EnvironmentMount | None = None,
    egress: EgressPolicy | None = None,
    secrets: Mapping[str, str] | None = None,
) -> PhaseResult:
    """Run one phase, with the repository's `environment` at /env when it has one, and
    (setup) only the `egress` proxy for network when a policy is given and its `secrets`
    as variables (redacted from the log). Returns the result
    when it passed, was skipped or was cancelled
    (`cancelled=True`; the caller reports its own cancellation). Raises BuildPhaseFailed,
    TestPhaseFailed or PhaseTimedOut (subclasses of the domain errors) with `.result`."""
    if kind not in _PROPERTY_OF:
        raise ValueError(f"unknown phase {kind!r}: expected setup, build or test")
    if command is None or (isinstance(command, str) and not command.strip()):
        return _missing(kind, required)
    if kind == "test":
        return _run_tests(
            command, worktree, timeout_s, runner, allow_network, on_line, cancel, env, environment
        )
    run = runner.run(
        command, worktree, timeout_s=timeout_s, allow_network=allow_network, on_line=on_line,
        cancel=cancel, env=env, environment=environment, egress=egress, secrets=secrets,
    )  # fmt: skip
    if secrets:
        run = dataclasses.replace(run, output=_without(run.output, secrets.values()))
    result = PhaseResult(
        kind=kind,
        command=command_text(command),
        exit_code=run.exit_code,
        duration_s=run.duration_s,
        log=run.output + "".join(f"{line}\n" for line in run.egress_log),
        egress_refused=tuple(
            dict.fromkeys(
                line.split()[2].rstrip(":") for line in run.egress_log if " refused " in line
            )
        ),
        skipped=False,
        truncated=run.truncated,
        timed_out=run.timed_out,
        cancelled=run.cancelled,
        sandboxed=run.sandboxed,
    )
    _raise_for(result, timeout_s)
    return result


def _without(text: str, values: Iterable[str]) -> str:
    """`text` with every secret value (and its common encodings) replaced."""
    for value in sorted(set(values), key=len, reverse=True):
        if len(value) < 4:
            continue
        for form in {value, quote(value, safe=""), base64.b64encode(value.encode()).decode()}:
            text = text.replace(form, "***")
    return redact(text)


def _missing(kind: PhaseKind, required: bool) -> PhaseResult:
    result = PhaseResult(kind, None, None, 0.0, "", skipped=True)
    if not required:
        return result
    message = (
        f"no {kind} command was found for this repository (the analyzer detected none and "
        f"the repository declares none); declare one in the repository's properties as "
        f"{_PROPERTY_OF[kind]!r}, or drop the {_CONSTRAINT_OF[kind]} constraint"
    )
    details = {"phase": kind, "reason": "no_command", "property": _PROPERTY_OF[kind]}
    if kind == "test":
        raise TestPhaseFailed(message, result=result, details=details)
    raise BuildPhaseFailed(message, result=result, details=details)


def _run_tests(
    command: str | Sequence[str],
    worktree: Path,
    timeout_s: float,
    runner: SandboxRunner,
    allow_network: bool,
    on_line: Callable[[str], None] | None,
    cancel: threading.Event | None,
    env: Mapping[str, str] | None,
    environment: EnvironmentMount | None,
) -> PhaseResult:
    reports = Path(tempfile.mkdtemp(prefix="sandbox-reports-", dir=runner.config.scratch_root))
    try:
        # the command sees the reports dir and builder's collectors at fixed sandbox paths
        tools = collectors_dir()
        capture = plan_capture(
            command, Path(runner.reports_path(reports)), env, worktree=worktree,
            collector=Path(runner.tools_path(tools)) / unittest_collector_path().name,
        )  # fmt: skip
        # Report files older than the run belong to an earlier run; mtime has 1 s granularity
        # on some filesystems.
        since = time.time() - 1.0
        run = runner.run(
            capture.command, worktree, timeout_s=timeout_s, allow_network=allow_network,
            on_line=_tee(capture.feed, on_line), cancel=cancel, env=capture.env,
            reports_dir=reports, tools_dir=tools, environment=environment,
        )  # fmt: skip
        notes: list[str] = []
        junit, coverage = collect_reports([reports], worktree, since, notes)
        test_report = merge_reports([*([junit] if junit else []), *capture.line_reports()])
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    log = run.output + "".join(f"[sandbox] {note}\n" for note in notes)
    result = PhaseResult(
        kind="test",
        command=command_text(command),
        exit_code=run.exit_code,
        duration_s=run.duration_s,
        log=log,
        skipped=False,
        test_report=test_report,
        coverage=coverage,
        truncated=run.truncated,
        timed_out=run.timed_out,
        cancelled=run.cancelled,
        sandboxed=run.sandboxed,
    )
    _raise_for(result, timeout_s)
    return result


def _tee(
    first: Callable[[str], None], second: Callable[[str], None] | None
) -> Callable[[str], None]:
    if second is None:
        return first

    def both(line: str) -> None:
        first(line)
        second(line)

    return both


def _details(result: PhaseResult) -> dict[str, Any]:
    details: dict[str, Any] = {
        "phase": result.kind,
        "command": result.command,
        "exit_code": result.exit_code,
        "duration_s": result.duration_s,
        # the log itself is an artifact (`<phase>.log`): untrusted output stays out of
        # Temporal histories and failure details
        "log": f"{result.kind}.log",
    }
    report = result.test_report
    if report is not None:
        names = [f.qualified_name for f in report.failures]
        details["failing_tests"] = names[:MAX_FAILING_TESTS]
        details["failing_test_count"] = len(names)
        details["tests_total"] = report.total
    return details


def _raise_for(result: PhaseResult, timeout_s: float) -> None:
    if result.cancelled:
        return
    if result.timed_out:
        raise PhaseTimedOut(
            f"{result.kind} command timed out after {timeout_s:g} s and was killed with its "
            f"whole process tree: {result.command}",
            result=result,
            details=_details(result),
        )
    report = result.test_report
    tests_failed = report is not None and (report.failed or report.errors)
    if result.exit_code == 0 and not tests_failed:
        return
    if result.kind != "test":
        hint = ""
        details = _details(result)
        if result.egress_refused:
            shown = ", ".join(result.egress_refused[:5])
            hint = (
                f"; setup's egress proxy refused {shown} (setup reaches only the package "
                "registries and the repository property setup_allowed_hosts)"
            )
            details["egress_refused"] = list(result.egress_refused[:20])
        raise BuildPhaseFailed(
            f"{result.kind} command exited with status {result.exit_code}{hint}: {result.command}",
            result=result,
            details=details,
        )
    if report is not None and report.failures:
        shown = ", ".join(f.qualified_name for f in report.failures[:5])
        more = len(report.failures) - 5
        message = (
            f"{len(report.failures)} of {report.total} tests failed ({shown}"
            f"{f' and {more} more' if more > 0 else ''}); test command: {result.command}"
        )
    else:
        message = f"test command exited with status {result.exit_code}: {result.command}"
    raise TestPhaseFailed(message, result=result, details=_details(result))

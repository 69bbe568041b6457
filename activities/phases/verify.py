"""Verification: the repository's setup, build and tests in the sandbox, their logs and
reports stored as artifacts.

A command's output is untrusted: it goes to the log artifact, never into Temporal. The
activity's heartbeats say how far the phase got (lines and seconds), not what it printed.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from temporalio import activity

from activities.phases.analysis import stored_commands
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id, json_bytes
from activities.phases.worktree import Use, WorktreeCache, completed_steps
from activities.runtime import Progress, maps_domain_errors, run_blocking
from activities.sandbox import PhaseResult, run_phase
from domain.contracts import VerifyRequest, VerifyResult
from domain.enums import ArtifactType
from domain.errors import DomainError
from domain.events import EventType
from workflows.activities import VerifyActivities

TEST_REPORT_ARTIFACT = "test-report.json"
COVERAGE_ARTIFACT = "coverage-report.json"


def phase_log_name(kind: str) -> str:
    """The artifact holding the latest log of a phase (setup, build or test)."""
    return f"{kind}.log"


class Verification(Phase, VerifyActivities):
    def __init__(self, deps: PhaseDeps, worktrees: WorktreeCache) -> None:
        super().__init__(deps)
        self.worktrees = worktrees

    @activity.defn
    @maps_domain_errors
    async def verify(self, inp: VerifyRequest) -> VerifyResult:
        """Run the build (after setup) or the tests on the last completed step's commit."""
        ctx = await self.context(inp.ref)
        # the build's outputs stay for the tests; the worktree is no longer known clean
        path = await self.worktrees.prepare(ctx, Use.RUN)
        done = completed_steps(ctx)
        verified = done[-1].commit_sha if done else ctx.execution.base_commit
        commands = stored_commands(ctx)
        props = ctx.repository.properties or {}
        constraints = ctx.constraints
        runner = self.deps.sandbox
        allow_network = bool(props.get("sandbox_allow_network", False))
        phase = inp.phase
        required = constraints.require_build if phase == "build" else constraints.require_tests
        deps = self.deps
        timeout = deps.build_timeout_s if phase == "build" else deps.test_timeout_s

        def run(cancel: threading.Event, progress: Progress) -> PhaseResult:
            if phase == "build" and commands.get("setup"):
                run_phase(
                    "setup", commands["setup"], path, required=True,
                    timeout_s=deps.setup_timeout_s, runner=runner,
                    allow_network=bool(props.get("setup_allow_network", allow_network)),
                    on_line=_line_counter("setup", progress), cancel=cancel,
                )  # fmt: skip
            return run_phase(
                phase, commands.get(phase), path, required=required, timeout_s=timeout,
                runner=runner, allow_network=allow_network,
                on_line=_line_counter(phase, progress), cancel=cancel,
            )  # fmt: skip

        try:
            result = await run_blocking(run, what=f"running the {phase}")
        except DomainError as err:
            failed = getattr(err, "result", None)
            if failed is not None:
                await self._store(ctx, failed, passed=False)
            raise
        await self._store(ctx, result, passed=True)
        summary = "skipped: no command" if result.skipped else f"exit {result.exit_code}"
        if result.test_report is not None:
            r = result.test_report
            summary = f"{r.passed}/{r.total} tests passed"
        return VerifyResult(
            phase=phase,
            skipped=result.skipped,
            passed=True,
            exit_code=result.exit_code,
            duration_s=result.duration_s,
            summary=summary,
            commit_sha=verified,
        )

    async def _store(self, ctx: ExecutionContext, result: PhaseResult, *, passed: bool) -> None:
        """The phase's log and reports as artifacts, then its event (staged last)."""
        kind = result.kind
        async with self.unit() as uow:
            if not result.skipped:
                await self.put_artifact(
                    uow, ctx, phase_log_name(kind), ArtifactType.BUILD_LOG,
                    "text/plain; charset=utf-8", result.log.encode(),
                    metadata={
                        "phase": kind, "exit_code": result.exit_code, "truncated": result.truncated
                    },
                )  # fmt: skip
            payload: dict[str, Any] = {
                "phase": kind,
                "passed": passed,
                "skipped": result.skipped,
                "exit_code": result.exit_code,
                "duration_s": round(result.duration_s, 3),
            }
            if result.test_report is not None:
                report = result.test_report
                await self.put_artifact(
                    uow, ctx, TEST_REPORT_ARTIFACT, ArtifactType.TEST_REPORT,
                    "application/json", json_bytes(report),
                )  # fmt: skip
                payload["tests"] = {
                    "total": report.total,
                    "passed": report.passed,
                    "failed": report.failed,
                    "errors": report.errors,
                    "skipped": report.skipped,
                }
            if result.coverage is not None:
                await self.put_artifact(
                    uow, ctx, COVERAGE_ARTIFACT, ArtifactType.COVERAGE_REPORT,
                    "application/json", json_bytes(result.coverage),
                )  # fmt: skip
            event = EventType.TEST_COMPLETED if kind == "test" else EventType.BUILD_COMPLETED
            attempt = activity.info().attempt if activity.in_activity() else 1
            self.emit(
                uow,
                ctx.id,
                event,
                payload,
                event_id=event_id(
                    ctx.id, event.value, kind, verify_round(ctx), attempt if not passed else 0
                ),
            )
            await uow.commit()


def verify_round(ctx: ExecutionContext) -> int:
    """Repairs add steps; the number of steps tells verification rounds apart."""
    progress = ctx.execution.progress or {}
    return int(progress.get("total_steps", 0))


def _line_counter(kind: str, progress: Progress) -> Any:
    """Reports how much a phase printed and for how long, never what it printed."""
    started = time.monotonic()
    lines = [0]

    def on_line(_line: str) -> None:
        lines[0] += 1
        progress(f"{kind}: {lines[0]} lines of output, {time.monotonic() - started:.0f} s")

    return on_line

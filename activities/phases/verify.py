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

from activities.phases.analysis import phase_timeouts, stored_configuration, stored_setup_plan
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id, json_bytes
from activities.phases.environment import PreparedEnvironment, prepare_environment
from activities.phases.worktree import Use, WorktreeCache, completed_steps
from activities.runtime import Progress, maps_domain_errors, run_blocking
from activities.sandbox import PhaseKind, PhaseResult, run_phase
from domain.contracts import VerifyRequest, VerifyResult
from domain.enums import ArtifactType
from domain.errors import DomainError, InvalidTransition
from domain.events import EventType
from domain.redaction import register_secrets
from persistence.setup_secrets import SetupSecrets
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
        configuration = stored_configuration(ctx)
        if configuration is None:
            raise InvalidTransition(f"execution {ctx.id} was not analysed before verification")
        constraints = ctx.constraints
        runner = self.deps.sandbox
        phase = inp.phase
        required = constraints.require_build if phase == "build" else constraints.require_tests
        timeouts = phase_timeouts(self.deps, configuration)
        secrets = await self._setup_secrets(ctx)

        def run_one(
            kind: PhaseKind, cancel: threading.Event, progress: Progress, ready: PreparedEnvironment
        ) -> PhaseResult:
            setting = configuration.phase(kind)
            return run_phase(
                kind, setting.command, path, required=required, timeout_s=getattr(
                    timeouts, f"{kind}_s"), runner=runner, allow_network=setting.allow_network,
                on_line=_line_counter(kind, progress), cancel=cancel, env=ready.env,
                environment=ready.mount,
            )  # fmt: skip

        def run(
            cancel: threading.Event, progress: Progress
        ) -> tuple[PreparedEnvironment, PhaseResult]:
            # setup before the build; the tests set up only when the environment is gone
            ready = prepare_environment(
                self.deps.environments, runner, tenant=str(ctx.tenant),
                repository=str(ctx.repository.id), worktree=path,
                plan=stored_setup_plan(ctx), configuration=configuration,
                setup_timeout_s=timeouts.setup_s, run_plain_setup=phase == "build",
                cancel=cancel, on_line=_line_counter("setup", progress), secrets=secrets,
            )  # fmt: skip
            try:
                if ready.cancelled:
                    assert ready.setup is not None
                    return ready, ready.setup
                return ready, run_one(phase, cancel, progress, ready)
            finally:
                ready.release()  # the purge may remove it once no phase uses it

        try:
            ready, result = await run_blocking(run, what=f"running the {phase}")
        except DomainError as err:
            failed = getattr(err, "result", None)
            if failed is not None:
                await self._store(ctx, failed, passed=False, before=phase)
            raise
        if ready.setup is not None and ready.setup is not result:
            # before the tests, setup ran again: the build's environment was gone
            await self._store(ctx, ready.setup, passed=True, before=phase)
        if ready.cache_hit and phase == "build":
            await self._setup_skipped(ctx, ready)
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

    async def _setup_secrets(self, ctx: ExecutionContext) -> dict[str, str]:
        """The repository's setup-only secrets, registered for redaction first."""
        async with self.unit() as uow:
            secrets = await SetupSecrets(uow.session, self.deps.keyring).load(
                ctx.tenant, ctx.repository.id
            )
        register_secrets(secrets.values())
        return secrets

    async def _setup_skipped(self, ctx: ExecutionContext, ready: PreparedEnvironment) -> None:
        """Setup did not run: the environment of this dependency state was cached."""
        async with self.unit() as uow:
            self.emit(
                uow, ctx.id, EventType.SETUP_SKIPPED,
                {"phase": "setup", "reason": "cache_hit", "environment": ready.key},
                event_id=event_id(ctx.id, EventType.SETUP_SKIPPED.value, verify_round(ctx)),
            )  # fmt: skip
            await uow.commit()

    async def _store(
        self, ctx: ExecutionContext, result: PhaseResult, *, passed: bool, before: str = "build"
    ) -> None:
        """The phase's log and reports as artifacts, then its event (staged last). A setup
        that ran `before` the tests has an event of its own, not the build's setup's."""
        kind = result.kind
        # the build's setup keeps the id it always had; the tests' setup gets another
        which = f"{kind}:before-test" if kind == "setup" and before == "test" else kind
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
                    ctx.id, event.value, which, verify_round(ctx), attempt if not passed else 0
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

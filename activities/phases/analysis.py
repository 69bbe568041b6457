"""Analysis: languages, commands, symbols and the dependency graph of the base commit."""

from __future__ import annotations

from typing import Any

from temporalio import activity

from activities.analysis import analyze_repository
from activities.analysis.report import AnalysisReport
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id
from activities.phases.worktree import Use, WorktreeCache
from activities.runtime import maps_domain_errors, run_blocking
from domain.contracts import AnalysisResult, ExecutionRef, PhaseTimeouts
from domain.enums import ArtifactType
from domain.events import EventType
from workflows.activities import AnalysisActivities

ANALYSIS_ARTIFACT = "analysis-report.json"
GRAPH_ARTIFACT = "dependency-graph.json"
# where the commands the analysis chose are kept for the verify phase
COMMANDS_KEY = "commands"
_OVERRIDES = ("setup_command", "build_command", "test_command")


class Analysis(Phase, AnalysisActivities):
    def __init__(self, deps: PhaseDeps, worktrees: WorktreeCache) -> None:
        super().__init__(deps)
        self.worktrees = worktrees

    @activity.defn
    @maps_domain_errors
    async def analyze(self, ref: ExecutionRef) -> AnalysisResult:
        ctx = await self.context(ref)
        path = await self.worktrees.prepare(ctx, Use.READ)
        props = ctx.repository.properties or {}
        overrides = {k: v for k, v in props.items() if k in _OVERRIDES}
        report = await run_blocking(
            lambda cancel, progress: analyze_repository(
                path, overrides=overrides or None, progress=progress, cancel=cancel
            ),
            what="analyzing the repository",
        )
        commands = {
            "setup": report.setup_command,
            "build": report.build_command,
            "test": report.test_command,
        }
        languages = {lang.name: lang.share for lang in report.languages}
        async with self.unit() as uow:
            await self.put_artifact(
                uow, ctx, ANALYSIS_ARTIFACT, ArtifactType.ANALYSIS_REPORT, "application/json",
                report.model_dump_json().encode(),
            )  # fmt: skip
            await self.put_artifact(
                uow, ctx, GRAPH_ARTIFACT, ArtifactType.DEPENDENCY_GRAPH, "application/json",
                report.dependency_graph.model_dump_json().encode(),
            )  # fmt: skip
            row = await uow.executions.get(ctx.tenant, ctx.id)
            row.properties = {**(row.properties or {}), COMMANDS_KEY: commands}
            self.emit(
                uow,
                row.id,
                EventType.ANALYSIS_COMPLETED,
                {"languages": languages, "commands": commands, "files": report.total_files},
                event_id=event_id(row.id, "analysis.completed"),
            )
            await uow.commit()
        return AnalysisResult(
            languages=languages,
            setup_command=report.setup_command,
            build_command=report.build_command,
            test_command=report.test_command,
            file_count=report.total_files,
            phase_timeouts=phase_timeouts(self.deps),
        )


def phase_timeouts(deps: PhaseDeps) -> PhaseTimeouts:
    """The sandbox's phase limits; the verify activity's timeout derives from them."""
    return PhaseTimeouts(
        setup_s=deps.setup_timeout_s, build_s=deps.build_timeout_s, test_s=deps.test_timeout_s
    )


async def stored_analysis(phase: Phase, ctx: ExecutionContext) -> AnalysisReport | None:
    """The analysis report this execution stored, for engines that plan from it."""
    text = await phase.text_artifact(ctx, ANALYSIS_ARTIFACT)
    return AnalysisReport.model_validate_json(text) if text else None


def stored_commands(ctx: ExecutionContext) -> dict[str, Any]:
    return dict((ctx.execution.properties or {}).get(COMMANDS_KEY, {}))

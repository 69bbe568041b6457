"""Analysis: languages, commands, symbols and the dependency graph of the base commit."""

from __future__ import annotations

from temporalio import activity

from activities.analysis.cache import AnalysisCache, AnalysisOutcome, analysis_key
from activities.analysis.repo_config import analyze_configured_repository
from activities.analysis.report import AnalysisReport
from activities.phases.bookkeeping import stage_state
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id
from activities.phases.worktree import Use, WorktreeCache
from activities.runtime import maps_domain_errors, run_blocking
from domain.contracts import AnalysisResult, PhaseRequest, PhaseTimeouts
from domain.enums import ArtifactType
from domain.events import EventType
from domain.repository_configuration import ResolvedConfiguration
from domain.setup_plan import SetupPlan
from workflows.activities import AnalysisActivities

ANALYSIS_ARTIFACT = "analysis-report.json"
GRAPH_ARTIFACT = "dependency-graph.json"
# where the execution row keeps what the analysis chose: the commands (shown to clients)
# and the resolved phase configuration the verify phase runs
COMMANDS_KEY = "commands"
CONFIGURATION_KEY = "configuration"
# what setup installs into the repository's environment (domain/setup_plan.py)
SETUP_PLAN_KEY = "setup_plan"


class Analysis(Phase, AnalysisActivities):
    def __init__(
        self, deps: PhaseDeps, worktrees: WorktreeCache, cache: AnalysisCache | None = None
    ) -> None:
        super().__init__(deps)
        self.worktrees = worktrees
        self.cache = cache or AnalysisCache()

    @activity.defn
    @maps_domain_errors
    async def analyze(self, ref: PhaseRequest) -> AnalysisResult:
        ctx = await self.context(ref)
        path = await self.worktrees.prepare(ctx, Use.READ)
        properties = ctx.repository.properties or {}
        key = analysis_key(
            ctx.tenant, ctx.repository.id, ctx.execution.base_commit or "", properties
        )
        outcome = self.cache.get(key) if ctx.execution.base_commit else None
        reused = outcome is not None
        if outcome is None:
            # detection, the repository's .builder.yml and its properties, in that order
            report = await run_blocking(
                lambda cancel, progress: analyze_configured_repository(
                    path, properties, progress=progress, cancel=cancel
                ),
                what="analyzing the repository",
            )
            outcome = AnalysisOutcome.of(report)
            if ctx.execution.base_commit:
                self.cache.put(key, outcome)
        configuration = outcome.configuration
        commands = outcome.commands
        async with self.unit() as uow:
            await self.put_artifact(
                uow, ctx, ANALYSIS_ARTIFACT, ArtifactType.ANALYSIS_REPORT, "application/json",
                outcome.report_json,
            )  # fmt: skip
            await self.put_artifact(
                uow, ctx, GRAPH_ARTIFACT, ArtifactType.DEPENDENCY_GRAPH, "application/json",
                outcome.graph_json,
            )  # fmt: skip
            resolved = configuration.model_dump(mode="json") if configuration else None
            # the keys merged in one statement: no second read of the execution's row
            await uow.executions.merge_properties(
                ctx.tenant, ctx.id, {
                    COMMANDS_KEY: commands,
                    CONFIGURATION_KEY: resolved,
                    SETUP_PLAN_KEY: outcome.setup_plan.model_dump(mode="json"),
                },
            )  # fmt: skip
            self.emit(
                uow,
                ctx.id,
                EventType.ANALYSIS_COMPLETED,
                {
                    "languages": outcome.languages,
                    "commands": commands,
                    "reasons": outcome.command_reasons,
                    "files": outcome.total_files,
                    # the same commit and properties were analysed before on this worker
                    "reused": reused,
                },
                event_id=event_id(ctx.id, "analysis.completed"),
            )
            if ref.state is not None:  # planning, entered with the analysis stored
                await stage_state(self, uow, ref.state)
            await uow.commit()
        return AnalysisResult(
            languages=outcome.languages,
            setup_command=commands["setup"],
            build_command=commands["build"],
            test_command=commands["test"],
            file_count=outcome.total_files,
            phase_timeouts=phase_timeouts(self.deps, configuration),
            verify_needed=verify_needed(ctx, configuration, outcome.setup_plan),
            state_recorded=ref.state is not None,
        )


def verify_needed(
    ctx: ExecutionContext, configuration: ResolvedConfiguration | None, plan: SetupPlan
) -> bool:
    """Whether the verify activities would do more than record two skipped phases."""
    constraints = ctx.constraints
    if configuration is None or constraints.require_build or constraints.require_tests:
        return True
    if plan.environments:
        return True
    return any(configuration.phase(kind).command for kind in ("setup", "build", "test"))


def phase_timeouts(deps: PhaseDeps, configuration: ResolvedConfiguration | None) -> PhaseTimeouts:
    """Each phase's limit: the repository's own when it names one, else the worker's. The
    sandbox enforces them; the verify activity's timeout derives from them."""

    def limit(kind: str, default: float) -> float:
        own = configuration.phase(kind).timeout_s if configuration else None
        return float(own) if own else default

    return PhaseTimeouts(
        setup_s=limit("setup", deps.setup_timeout_s),
        build_s=limit("build", deps.build_timeout_s),
        test_s=limit("test", deps.test_timeout_s),
    )


async def stored_analysis(phase: Phase, ctx: ExecutionContext) -> AnalysisReport | None:
    """The analysis report this execution stored, for engines that plan from it."""
    text = await phase.text_artifact(ctx, ANALYSIS_ARTIFACT)
    return AnalysisReport.model_validate_json(text) if text else None


def stored_setup_plan(ctx: ExecutionContext) -> SetupPlan:
    """The setup plan the analysis found (empty for executions analysed before plans)."""
    stored = (ctx.execution.properties or {}).get(SETUP_PLAN_KEY)
    return SetupPlan.model_validate(stored) if stored else SetupPlan()


def stored_configuration(ctx: ExecutionContext) -> ResolvedConfiguration | None:
    """The phase configuration the analysis resolved for this execution."""
    stored = (ctx.execution.properties or {}).get(CONFIGURATION_KEY)
    return ResolvedConfiguration.model_validate(stored) if stored else None

"""Planning: the engine's plan, validated against the constraints and stored once."""

from __future__ import annotations

from temporalio import activity

from activities.codegen.agent import tasks
from activities.codegen.engine import PlanResult as EnginePlan
from activities.codegen.engine import validate_plan
from activities.codegen.factory import build_engine
from activities.codegen.workspace import FilesystemWorkspace
from activities.phases.agent import exchange_of
from activities.phases.analysis import stored_analysis
from activities.phases.bookkeeping import stage_state
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id
from activities.phases.review import ensure_review_threads, feature_request
from activities.phases.usage import record_usage, remaining_budget
from activities.phases.worktree import Use, WorktreeCache
from activities.runtime import maps_domain_errors, run_blocking
from domain.contracts import PhaseRequest, PlanResult, RecordStateInput
from domain.enums import ArtifactType
from domain.events import EventType
from domain.values import ExecutionPlan, ExecutionProgress
from workflows.activities import PlanningActivities

PLAN_ARTIFACT = "plan.json"


class Planning(Phase, PlanningActivities):
    def __init__(self, deps: PhaseDeps, worktrees: WorktreeCache) -> None:
        super().__init__(deps)
        self.worktrees = worktrees

    @activity.defn
    @maps_domain_errors
    async def plan(self, ref: PhaseRequest) -> PlanResult:
        """Plan once: a stored plan is returned as is, so a retry never asks the model again."""
        ctx = await self.context(ref)
        if ctx.execution.plan:
            stored = ExecutionPlan.model_validate(ctx.execution.plan)
            if ref.state is not None:  # a retry after the plan was stored: the state too
                async with self.unit() as uow:
                    await stage_state(self, uow, with_plan_progress(ref.state, stored))
                    await uow.commit()
            return PlanResult(plan=stored, state_recorded=ref.state is not None)
        path = await self.worktrees.prepare(ctx, Use.EDIT)
        engine = build_engine(ctx.execution.engine, self.deps.llm)  # type: ignore[arg-type]
        await ensure_review_threads(self, ctx)
        request = await feature_request(self, ctx)
        analysis = await stored_analysis(self, ctx) if ctx.execution.engine != "spec" else None
        budget = await remaining_budget(self, ctx)
        declared = await self._declared(ctx) if ctx.execution.engine == "agent" else None
        if declared:  # the agent's own task list (its declaring turns ran before)
            planned = EnginePlan(plan=tasks.plan_of(declared))
        else:
            planned = await run_blocking(
                lambda cancel, progress: engine.plan(
                    request, analysis, view=FilesystemWorkspace(path), budget=budget,
                    progress=progress, cancel=cancel,
                ),
                what="planning",
            )  # fmt: skip
        validate_plan(planned.plan, ctx.constraints)
        plan = planned.plan
        async with self.unit() as uow:
            await self.put_artifact(
                uow, ctx, PLAN_ARTIFACT, ArtifactType.PLAN, "application/json",
                plan.model_dump_json(indent=2).encode(),
            )  # fmt: skip
            record_usage(self, uow, ctx, "plan", planned.usage)
            await uow.executions.update(ctx.tenant, ctx.id, plan=plan)
            await uow.steps.upsert_plan(ctx.tenant, ctx.id, plan)
            self.emit(
                uow,
                ctx.id,
                EventType.PLAN_CREATED,
                {
                    "steps": [
                        {"index": s.index, "type": str(s.type), "description": s.description}
                        for s in plan.steps
                    ],
                    "summary": plan.summary,
                },
                event_id=event_id(ctx.id, "plan.created"),
            )
            if ref.state is not None:  # executing, entered with the plan stored
                await stage_state(self, uow, with_plan_progress(ref.state, plan))
            await uow.commit()
        return PlanResult(plan=plan, state_recorded=ref.state is not None)

    async def _declared(self, ctx: ExecutionContext) -> list[str] | None:
        async with self.unit() as uow:
            rows = await uow.agent_turns.of_step(ctx.tenant, ctx.id, tasks.DECLARING)
        return tasks.declared([exchange_of(r) for r in rows if r.outcomes is not None])


def with_plan_progress(change: RecordStateInput, plan: ExecutionPlan) -> RecordStateInput:
    """The change with the progress the workflow shows once it has the plan (its steps,
    none done): the workflow made the change before the plan existed."""
    progress = ExecutionProgress.of(len(plan.steps), 0, 0, None)
    return change.model_copy(update={"progress": progress})

"""Repairs: after a failed build or test, the engine's fix becomes a new step, stored with its
edits in one transaction before anything applies it."""

from __future__ import annotations

from temporalio import activity

from activities.codegen.factory import build_engine
from activities.codegen.workspace import FilesystemWorkspace
from activities.phases.context import ExecutionContext, Phase, PhaseDeps
from activities.phases.review import feature_request
from activities.phases.steps import commit_message
from activities.phases.usage import record_usage, remaining_budget
from activities.phases.verify import phase_log_name
from activities.phases.worktree import Use, WorktreeCache
from activities.runtime import maps_domain_errors, run_blocking
from domain.contracts import RepairRequest, RepairResult
from domain.enums import ErrorCode, StepType
from domain.values import PlanStep
from workflows.activities import RepairActivities

# the tail of the failing phase's log the engine sees
REPAIR_LOG_CHARS = 12_000


class Repairs(Phase, RepairActivities):
    def __init__(self, deps: PhaseDeps, worktrees: WorktreeCache) -> None:
        super().__init__(deps)
        self.worktrees = worktrees

    @activity.defn
    @maps_domain_errors
    async def add_repair_step(self, inp: RepairRequest) -> RepairResult:
        """Ask the engine for a fix of the failed phase. The workflow names the new step's
        index, so a retry after the step was stored returns it without asking again."""
        ctx = await self.context(inp.ref)
        index = inp.step_index
        if index is None:  # a workflow of the previous version
            index = max((s.step_index for s in ctx.steps), default=-1) + 1
        description = f"repair after {inp.failure_code}"
        existing = ctx.find_step(index)
        if existing is not None and existing.generated_edits is not None:
            return RepairResult(step_index=index, description=existing.description)
        limit = ctx.constraints.max_steps or 50
        if len(ctx.steps) >= limit:
            return RepairResult(step_index=None)
        path = await self.worktrees.prepare(ctx, Use.EDIT, upto_step=index)
        engine = build_engine(ctx.execution.engine, self.deps.llm)  # type: ignore[arg-type]
        request = await feature_request(self, ctx)
        budget = await remaining_budget(self, ctx)
        failure = f"{inp.failure_code}: {inp.failure_message}\n\n{await self._log(ctx, inp)}"
        generated = await run_blocking(
            lambda cancel, progress: engine.repair(
                request, failure, FilesystemWorkspace(path), budget,
                progress=progress, cancel=cancel,
            ),
            what="planning a repair",
        )  # fmt: skip
        async with self.unit() as uow:
            record_usage(self, uow, ctx, f"repair-{index}", generated.usage)
            (row,) = await uow.steps.upsert_steps(
                ctx.tenant,
                ctx.id,
                [PlanStep(index=index, description=description, type=StepType.REFACTOR)],
            )
            await uow.steps.record_edits(
                ctx.tenant,
                row.id,
                generated.edits,
                commit_message=commit_message(ctx, row),
                commit_timestamp=repair_timestamp(ctx, index),
            )
            await uow.commit()
        return RepairResult(step_index=index, description=description)

    async def _log(self, ctx: ExecutionContext, inp: RepairRequest) -> str:
        """The log of the phase that failed in this round (never an older round's: each
        round overwrites its phase's log, and the failure names the phase that failed)."""
        phase = inp.failed_phase or (
            "test" if inp.failure_code == ErrorCode.TEST_FAILED else "build"
        )
        text = await self.text_artifact(ctx, phase_log_name(phase))
        return text[-REPAIR_LOG_CHARS:] if text else ""


def repair_timestamp(ctx: ExecutionContext, index: int) -> int:
    """Commit time of a repair step: fixed by the execution, so a rebuild repeats the SHA."""
    return int(ctx.execution.created_at.timestamp()) + index

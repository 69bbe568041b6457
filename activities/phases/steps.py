"""Plan steps: edits generated and stored before anything applies them, then applied on the
previous step's commit and committed deterministically."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.codegen.factory import build_engine
from activities.codegen.workspace import FilesystemWorkspace
from activities.git import CommitResult
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id
from activities.phases.review import feature_request
from activities.phases.usage import record_usage, remaining_budget
from activities.phases.worktree import Use, WorktreeCache, edits_of
from activities.runtime import (
    MESSAGE_CHARS,
    Progress,
    bounded,
    failure_details,
    maps_domain_errors,
    run_blocking,
)
from domain.contracts import StepRequest, StepResult, StepsRequest, StepsResult
from domain.edits import FileEdit
from domain.enums import ErrorCode, StepState, StepType
from domain.errors import DomainError
from domain.events import EventType
from domain.values import ExecutionProgress, PlanStep, StepError
from persistence.artifacts import ArtifactService, store_patches
from persistence.tables import ExecutionStepRow
from persistence.uow import UnitOfWork
from workflows.activities import StepActivities

# A batch says which step it has applied only once it has run this long: each heartbeat is a
# call the server stores, and a batch that ends sooner says it with its result (a long step
# keeps the activity alive with its own heartbeats, activities.runtime.run_blocking).
BEAT_AFTER_S = 1.0


class Steps(Phase, StepActivities):
    def __init__(self, deps: PhaseDeps, worktrees: WorktreeCache) -> None:
        super().__init__(deps)
        self.worktrees = worktrees

    @activity.defn
    @maps_domain_errors
    async def generate_step(self, inp: StepRequest) -> StepResult:
        """Generate and persist a step's edits; stored edits are reused, never regenerated."""
        ctx = await self.context(inp.ref)
        step = ctx.step(inp.step_index)
        if step.generated_edits is not None:
            return StepResult(step_index=inp.step_index, reused=True)
        # the engine must see the committed files, not what a build left behind
        path = await self.worktrees.prepare(ctx, Use.EDIT, upto_step=inp.step_index)
        await self._generate_and_store(ctx, step, path, inp.commit_timestamp)
        return StepResult(step_index=inp.step_index)

    @activity.defn
    @maps_domain_errors
    async def apply_step(self, inp: StepRequest) -> StepResult:
        """Apply the stored edits on the previous step's commit and commit them; a step with
        no stored edits yet (the spec engine's, cheap to compute) is generated first."""
        return await self._apply(inp)

    @activity.defn
    @maps_domain_errors
    async def apply_steps(self, inp: StepsRequest) -> StepsResult:
        """Apply declared steps in order, each exactly as apply_step would (its own context
        read, commit, rows and events): what a spec run saves is the round trip through the
        server between them. A failed step's index is in the error's details, whatever failed;
        a step that outlives its own limit fails the batch then (a timeout, retryable), not
        at the batch's limit; its thread, like any that ignores cancellation, may still be
        finishing when the retry starts, as after an activity's own timeout. After each step
        but the last, once the batch has run BEAT_AFTER_S, a heartbeat names the step
        applied, so a batch that times out later still says where it stopped."""
        applied: list[StepResult] = []
        started = time.monotonic()
        for index in inp.step_indices:
            request = StepRequest(
                ref=inp.ref, step_index=index, commit_timestamp=inp.base_timestamp + index
            )
            deadline = asyncio.timeout(inp.step_timeout_s)
            try:
                async with deadline:
                    applied.append(await self._apply(request))
            except DomainError as err:
                err.details = {**err.details, "step_index": index}
                raise
            except Exception as err:
                if isinstance(err, TimeoutError) and deadline.expired():
                    # retried, and ending the run as a timeout once retries run out, like
                    # one apply_step that ran into its start-to-close limit
                    raise ApplicationError(
                        f"step {index} did not finish within {inp.step_timeout_s:g} s",
                        failure_details({"step_index": index}),
                        type=ErrorCode.TIMEOUT.value,
                    ) from None
                # retryable as the SDK would make it, but naming the step it stopped at
                raise ApplicationError(
                    bounded(f"{type(err).__name__}: {err}", MESSAGE_CHARS),
                    failure_details({"step_index": index}),
                    type=type(err).__name__,
                ) from None
            if index != inp.step_indices[-1] and time.monotonic() - started >= BEAT_AFTER_S:
                activity.heartbeat({"applied_step": index})
        return StepsResult(steps=applied)

    async def _apply(self, inp: StepRequest) -> StepResult:
        ctx = await self.context(inp.ref)
        step = ctx.step(inp.step_index)
        if step.state == StepState.COMPLETED and step.commit_sha:
            return StepResult(
                step_index=inp.step_index,
                commit_sha=step.commit_sha,
                reused=True,
                lines_added=step.lines_added or 0,
                lines_removed=step.lines_removed or 0,
            )
        path = await self.worktrees.prepare(ctx, Use.EDIT, upto_step=inp.step_index)
        if step.generated_edits is None:
            step = await self._generate_and_store(ctx, step, path, inp.commit_timestamp)
        committed = await self._commit(ctx, step, path, edits_of(step), inp.commit_timestamp)
        await self._record(ctx, step, committed)
        return StepResult(
            step_index=inp.step_index,
            commit_sha=committed.sha,
            files_changed=len(committed.files),
            lines_added=committed.lines_added,
            lines_removed=committed.lines_removed,
        )

    async def _commit(
        self,
        ctx: ExecutionContext,
        step: ExecutionStepRow,
        path: Path,
        edits: list[FileEdit],
        commit_timestamp: int,
    ) -> CommitResult:
        constraints = ctx.constraints
        git = self.deps.git

        def apply(cancel: threading.Event, progress: Progress) -> CommitResult:
            touched = git.apply_edits(
                path, edits, constraints.allowed_paths, constraints.forbidden_paths
            )
            # only the declared edits enter the commit, never what a build left behind
            return git.commit(
                path,
                step.commit_message or step.description,
                step.commit_timestamp or commit_timestamp,
                paths=touched,
            )

        try:
            committed = await run_blocking(apply, what=f"applying step {step.step_index}")
        except BaseException as err:
            self.worktrees.forget(ctx)
            if isinstance(err, DomainError):
                await self.fail_step(ctx, step, err, "apply")
            raise
        self.worktrees.committed(ctx, committed.sha)
        return committed

    async def _record(
        self, ctx: ExecutionContext, step: ExecutionStepRow, committed: CommitResult
    ) -> None:
        """The commit, its file changes (one statement) and the step's events (one more)."""
        async with self.unit() as uow:
            await store_patches(
                ArtifactService(uow.session, self.deps.store),
                ctx.tenant,
                execution_id=ctx.id,
                step_id=step.id,
                changes=committed.files,
                inline_limit=self.deps.patch_inline_limit,
            )
            for change in committed.files:
                self.emit(
                    uow,
                    ctx.id,
                    EventType.FILE_CHANGED,
                    {
                        "step_index": step.step_index,
                        "path": change.file_path,
                        "change_type": str(change.change_type),
                        "lines_added": change.lines_added,
                        "lines_removed": change.lines_removed,
                    },
                    event_id=event_id(ctx.id, "file.changed", step.step_index, change.file_path),
                )
            await uow.steps.record_commit(
                ctx.tenant,
                step.id,
                committed.sha,
                lines_added=committed.lines_added,
                lines_removed=committed.lines_removed,
            )
            await uow.steps.update_state(ctx.tenant, step.id, StepState.COMPLETED, error=None)
            done = 1 + sum(
                1 for s in ctx.steps if s.state == StepState.COMPLETED and s.id != step.id
            )
            progress = ExecutionProgress.of(len(ctx.steps), done, step.step_index, step.description)
            await uow.executions.update(ctx.tenant, ctx.id, progress=progress)
            self.emit(
                uow,
                ctx.id,
                EventType.STEP_COMPLETED,
                {
                    "step_index": step.step_index,
                    "commit_sha": committed.sha,
                    "files": len(committed.files),
                    "lines_added": committed.lines_added,
                    "lines_removed": committed.lines_removed,
                    "progress": progress.model_dump(mode="json"),
                },
                event_id=event_id(ctx.id, "step.completed", step.step_index),
            )
            await uow.commit()

    async def _generate_and_store(
        self, ctx: ExecutionContext, step: ExecutionStepRow, path: Path, commit_timestamp: int
    ) -> ExecutionStepRow:
        """Ask the engine for the step's edits and store them before anything applies them."""
        engine = build_engine(ctx.execution.engine, self.deps.llm)  # type: ignore[arg-type]
        request = await feature_request(self, ctx)
        budget = await remaining_budget(self, ctx)
        plan_step = PlanStep(
            index=step.step_index,
            description=step.description,
            type=StepType(step.step_type),
            target_files=list(step.target_files or []),
        )
        # a model call takes a while: say the step started before it, not after
        slow = ctx.execution.engine != "spec"
        if slow:
            async with self.unit() as uow:
                await self._start_step(uow, ctx, step)
                await uow.commit()
        try:
            generated = await run_blocking(
                lambda cancel, progress: engine.generate(
                    request, plan_step, FilesystemWorkspace(path), budget,
                    progress=progress, cancel=cancel,
                ),
                what=f"generating step {step.step_index}",
            )  # fmt: skip
        except DomainError as err:
            await self.fail_step(ctx, step, err, "generate")
            raise
        async with self.unit() as uow:
            if not slow:
                await self._start_step(uow, ctx, step)
            record_usage(self, uow, ctx, f"step-{step.step_index}", generated.usage)
            stored = await uow.steps.record_edits(
                ctx.tenant,
                step.id,
                generated.edits,
                commit_message=commit_message(ctx, step),
                commit_timestamp=commit_timestamp,
            )
            await uow.commit()
        return stored

    async def _start_step(
        self, uow: UnitOfWork, ctx: ExecutionContext, step: ExecutionStepRow
    ) -> None:
        await uow.steps.update_state(ctx.tenant, step.id, StepState.RUNNING)
        self.emit(
            uow,
            ctx.id,
            EventType.STEP_STARTED,
            {"step_index": step.step_index, "description": step.description},
            event_id=event_id(ctx.id, "step.started", step.step_index),
        )

    async def fail_step(
        self, ctx: ExecutionContext, step: ExecutionStepRow, err: DomainError, phase: str
    ) -> None:
        error = StepError(
            code=err.code.value,
            message=err.message,
            phase=phase,
            details=err.details or None,
            retryable=err.retryable,
        )
        async with self.unit() as uow:
            await uow.steps.update_state(ctx.tenant, step.id, StepState.FAILED, error=error)
            self.emit(
                uow,
                ctx.id,
                EventType.STEP_FAILED,
                {"step_index": step.step_index, "error": error.model_dump(mode="json")},
                event_id=event_id(ctx.id, "step.failed", step.step_index, step.attempt_count),
            )
            await uow.commit()


def commit_message(ctx: ExecutionContext, step: ExecutionStepRow) -> str:
    subject = (
        step.description.strip().splitlines()[0][:72]
        if step.description.strip()
        else "builder step"
    )
    return (
        f"{subject}\n\n{ctx.execution.title}\n\n"
        f"Builder-Execution: {ctx.execution.id}\nBuilder-Step: {step.step_index}\n"
    )

"""The activities FeatureExecutionWorkflow calls: thin wrappers that load rows, run an
engine in a thread (heartbeating, cancellable) and persist the outcome idempotently.

Idempotency rules: rows upsert on natural keys, events carry ids chosen by the workflow or
derived from (execution, purpose), edits are stored before they are applied and reused on a
retry, and commits take their timestamp from the workflow, so a retry makes the same SHA.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.analysis import analyze_repository
from activities.codegen.budget import Budget, Usage
from activities.codegen.engine import FeatureRequest, validate_plan
from activities.codegen.factory import build_engine
from activities.codegen.workspace import FilesystemWorkspace
from activities.deps import PipelineDeps, build_deps
from activities.git import GitCredential, ReplayStep
from activities.git.worktree_state import (
    has_commit,
    is_clean,
    range_patch,
    reset_worktree,
    worktree_head,
)
from activities.runtime import maps_domain_errors, run_blocking
from activities.sandbox import run_phase
from builder.observability.redaction import register_secrets
from builder.settings import Settings
from domain.changes import declared_changes_adapter
from domain.edits import FileEdit, file_edits_adapter
from domain.enums import ArtifactType, FeatureState, StepState, StepType
from domain.errors import DomainError, NotFound, PushRejected
from domain.events import EventType
from domain.ids import derived_id
from domain.values import (
    DeliveryResult,
    ExecutionPlan,
    ExecutionProgress,
    FeatureConstraints,
    PlanStep,
    StepError,
)
from persistence.artifacts import ArtifactService, artifact_id_for, store_patch
from persistence.credentials import CredentialRepository
from persistence.tables import (
    ExecutionEventRow,
    ExecutionStepRow,
    FeatureExecutionRow,
    RepositoryRow,
)
from persistence.uow import UnitOfWork
from workflows.activity_names import Activity
from workflows.contracts import (
    AnalysisResult,
    CleanupRequest,
    ExecutionRef,
    LockRequest,
    LockResult,
    PlanResult,
    PushRequest,
    PushResult,
    RecordEventInput,
    RecordStateInput,
    RepairRequest,
    RepairResult,
    StepRequest,
    StepResult,
    VerifyRequest,
    VerifyResult,
    WorkspaceResult,
)

ANALYSIS_ARTIFACT = "analysis-report.json"
GRAPH_ARTIFACT = "dependency-graph.json"
PLAN_ARTIFACT = "plan.json"
COMMANDS_KEY = "commands"


@dataclass(frozen=True)
class _Context:
    """What most activities load first: the execution, its repository and its steps."""

    execution: FeatureExecutionRow
    repository: RepositoryRow
    steps: list[ExecutionStepRow]

    @property
    def tenant(self) -> uuid.UUID:
        return self.execution.tenant_id

    @property
    def key(self) -> str:
        return str(self.execution.id)

    @property
    def constraints(self) -> FeatureConstraints:
        return FeatureConstraints.model_validate(self.execution.constraints or {})

    def request(self) -> FeatureRequest:
        changes = self.execution.changes
        return FeatureRequest(
            title=self.execution.title,
            description=self.execution.description,
            constraints=self.constraints,
            changes=declared_changes_adapter.validate_python(changes) if changes else None,
        )


class FeaturePipeline:
    """The pipeline's activities, bound to one worker's clients and engines."""

    def __init__(self, deps: PipelineDeps) -> None:
        self.deps = deps
        # worktrees this process left clean at a commit (it made or reset them): they need
        # no status scan before the next step; a restarted process scans once
        self._known_clean: dict[str, str] = {}

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.record_state,
            self.record_event,
            self.acquire_lock,
            self.refresh_lock,
            self.release_lock,
            self.open_workspace,
            self.analyze,
            self.plan,
            self.generate_step,
            self.apply_step,
            self.add_repair_step,
            self.verify,
            self.push,
            self.cleanup,
        ]

    async def close(self) -> None:
        await self.deps.db.dispose()

    # ---- bookkeeping ------------------------------------------------------------------------

    @activity.defn(name=Activity.RECORD_STATE)
    @maps_domain_errors
    async def record_state(self, inp: RecordStateInput) -> None:
        """Move the execution to a state and append its event, in one transaction."""
        eid = uuid.UUID(inp.ref.execution_id)
        async with UnitOfWork(self.deps.sessions) as uow:
            row = await uow.executions.get(inp.ref.tenant_id, eid)
            previous = FeatureState(row.state)
            if previous != inp.state:
                fields: dict[str, Any] = {}
                if inp.progress is not None:
                    fields["progress"] = inp.progress
                if inp.error is not None:
                    fields["error"] = inp.error
                if inp.result is not None:
                    fields["result"] = inp.result
                await uow.executions.update_state(inp.ref.tenant_id, eid, inp.state, **fields)
            payload: dict[str, Any] = {"from": previous.label, "to": inp.state.label}
            if inp.reason:
                payload["reason"] = inp.reason
            if inp.error is not None:
                payload["error"] = inp.error.model_dump(mode="json")
            await self._append(
                uow,
                eid,
                EventType.STATE_CHANGED,
                payload,
                event_id=uuid.UUID(inp.event_id),
                causation_id=uuid.UUID(inp.causation_id) if inp.causation_id else None,
            )
            final = _FINAL_EVENTS.get(inp.state)
            if final is not None:
                body: dict[str, Any] = {}
                if inp.result is not None:
                    body["result"] = inp.result.model_dump(mode="json")
                if inp.error is not None:
                    body["error"] = inp.error.model_dump(mode="json")
                await self._append(
                    uow,
                    eid,
                    final,
                    body,
                    event_id=uuid.UUID(derived_id(inp.event_id, "final")),
                    causation_id=uuid.UUID(inp.event_id),
                )
            await uow.commit()

    @activity.defn(name=Activity.RECORD_EVENT)
    @maps_domain_errors
    async def record_event(self, inp: RecordEventInput) -> None:
        async with UnitOfWork(self.deps.sessions) as uow:
            await self._append(
                uow,
                uuid.UUID(inp.ref.execution_id),
                inp.event_type,
                dict(inp.payload),
                event_id=uuid.UUID(inp.event_id),
            )
            await uow.commit()

    @activity.defn(name=Activity.ACQUIRE_LOCK)
    @maps_domain_errors
    async def acquire_lock(self, inp: LockRequest) -> LockResult:
        """Lock (repository, feature branch); a retry by the same owner keeps its lease."""
        async with UnitOfWork(self.deps.sessions) as uow:
            row = await uow.executions.get(inp.ref.tenant_id, inp.ref.execution_id)
            key = _lock_key(row)
            holder = await uow.locks.holder(key)
            if holder is not None and holder.owner_id == inp.owner_id:
                return LockResult(acquired=True, fencing_token=holder.fencing_token, lock_key=key)
            lease = await uow.locks.acquire(key, inp.owner_id, row.id, self.deps.lock_ttl)
            if lease is None:
                blocker = await uow.locks.holder(key)
                holder_id = await _lock_feature(uow, key) if blocker else None
                return LockResult(acquired=False, lock_key=key, holder_execution_id=holder_id)
            await self._append(
                uow,
                row.id,
                EventType.LOCK_ACQUIRED,
                {"lock_key": key, "fencing_token": lease.fencing_token},
                event_id=uuid.UUID(derived_id(row.id, "lock.acquired", inp.owner_id)),
            )
            await uow.commit()
            return LockResult(acquired=True, fencing_token=lease.fencing_token, lock_key=key)

    @activity.defn(name=Activity.REFRESH_LOCK)
    @maps_domain_errors
    async def refresh_lock(self, inp: LockRequest) -> LockResult:
        async with UnitOfWork(self.deps.sessions) as uow:
            row = await uow.executions.get(inp.ref.tenant_id, inp.ref.execution_id)
            key = _lock_key(row)
            ok = await uow.locks.refresh(
                key, inp.owner_id, inp.fencing_token or 0, self.deps.lock_ttl
            )
            await uow.commit()
            return LockResult(acquired=ok, fencing_token=inp.fencing_token, lock_key=key)

    @activity.defn(name=Activity.RELEASE_LOCK)
    @maps_domain_errors
    async def release_lock(self, inp: LockRequest) -> LockResult:
        async with UnitOfWork(self.deps.sessions) as uow:
            row = await uow.executions.get(inp.ref.tenant_id, inp.ref.execution_id)
            key = _lock_key(row)
            released = await uow.locks.release(key, inp.owner_id, inp.fencing_token or 0)
            await self._append(
                uow,
                row.id,
                EventType.LOCK_RELEASED,
                {"lock_key": key},
                event_id=uuid.UUID(derived_id(row.id, "lock.released", inp.owner_id)),
            )
            await uow.commit()
            return LockResult(acquired=not released, fencing_token=inp.fencing_token, lock_key=key)

    # ---- the worktree -----------------------------------------------------------------------

    @activity.defn(name=Activity.OPEN_WORKSPACE)
    @maps_domain_errors
    async def open_workspace(self, ref: ExecutionRef) -> WorkspaceResult:
        """Fetch into the mirror and make this worker's worktree, rebuilding completed steps."""
        ctx = await self._context(ref)
        path = await self._ensure_worktree(ctx)
        async with UnitOfWork(self.deps.sessions) as uow:
            row = await uow.executions.update(
                ctx.tenant, ctx.execution.id, workspace_path=str(path)
            )
            base = row.base_commit or ""
            await self._append(
                uow,
                row.id,
                EventType.WORKSPACE_READY,
                {
                    "base_commit": base,
                    "feature_branch": row.feature_branch,
                    "worker": self.deps.worker_queue,
                },
                event_id=uuid.UUID(derived_id(row.id, "workspace.ready", self.deps.worker_queue)),
            )
            await uow.commit()
        return WorkspaceResult(
            task_queue=self.deps.worker_queue,
            base_commit=base,
            feature_branch=row.feature_branch or "",
        )

    @activity.defn(name=Activity.ANALYZE)
    @maps_domain_errors
    async def analyze(self, ref: ExecutionRef) -> AnalysisResult:
        ctx = await self._context(ref)
        path = await self._ensure_worktree(ctx, clean=False)
        overrides = {
            k: v
            for k, v in (ctx.repository.properties or {}).items()
            if k in ("setup_command", "build_command", "test_command")
        }
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
        async with UnitOfWork(self.deps.sessions) as uow:
            artifacts = ArtifactService(uow.session, self.deps.store)
            await artifacts.put(
                ctx.tenant,
                ctx.execution.id,
                ANALYSIS_ARTIFACT,
                ArtifactType.ANALYSIS_REPORT,
                "application/json",
                data=report.model_dump_json().encode(),
            )
            await artifacts.put(
                ctx.tenant,
                ctx.execution.id,
                GRAPH_ARTIFACT,
                ArtifactType.DEPENDENCY_GRAPH,
                "application/json",
                data=report.dependency_graph.model_dump_json().encode(),
            )
            row = await uow.executions.get(ctx.tenant, ctx.execution.id)
            row.properties = {**(row.properties or {}), COMMANDS_KEY: commands}
            languages = {lang.name: lang.share for lang in report.languages}
            await self._append(
                uow,
                row.id,
                EventType.ANALYSIS_COMPLETED,
                {"languages": languages, "commands": commands, "files": report.total_files},
                event_id=uuid.UUID(derived_id(row.id, "analysis.completed")),
            )
            await uow.commit()
        return AnalysisResult(
            languages=languages,
            setup_command=report.setup_command,
            build_command=report.build_command,
            test_command=report.test_command,
            file_count=report.total_files,
        )

    @activity.defn(name=Activity.PLAN)
    @maps_domain_errors
    async def plan(self, ref: ExecutionRef) -> PlanResult:
        """Plan once: a stored plan is returned as is, so a retry never asks the model again."""
        ctx = await self._context(ref)
        if ctx.execution.plan:
            return PlanResult(plan=ExecutionPlan.model_validate(ctx.execution.plan))
        path = await self._ensure_worktree(ctx)
        engine = build_engine(ctx.execution.engine, self.deps.llm)  # type: ignore[arg-type]
        request = ctx.request()
        analysis = await self._analysis(ctx) if ctx.execution.engine == "llm" else None
        budget = await self._budget(ctx)
        planned = await run_blocking(
            lambda cancel, progress: engine.plan(
                request,
                analysis,
                view=FilesystemWorkspace(path),
                budget=budget,
                progress=progress,
                cancel=cancel,
            ),
            what="planning",
        )
        validate_plan(planned.plan, ctx.constraints)
        async with UnitOfWork(self.deps.sessions) as uow:
            await self._record_usage(uow, ctx, "plan", planned.usage)
            await uow.executions.update(ctx.tenant, ctx.execution.id, plan=planned.plan)
            await uow.steps.upsert_plan(ctx.tenant, ctx.execution.id, planned.plan)
            await ArtifactService(uow.session, self.deps.store).put(
                ctx.tenant,
                ctx.execution.id,
                PLAN_ARTIFACT,
                ArtifactType.PLAN,
                "application/json",
                data=planned.plan.model_dump_json(indent=2).encode(),
            )
            await self._append(
                uow,
                ctx.execution.id,
                EventType.PLAN_CREATED,
                {
                    "steps": [
                        {"index": s.index, "type": str(s.type), "description": s.description}
                        for s in planned.plan.steps
                    ],
                    "summary": planned.plan.summary,
                },
                event_id=uuid.UUID(derived_id(ctx.execution.id, "plan.created")),
            )
            await uow.commit()
        return PlanResult(plan=planned.plan)

    @activity.defn(name=Activity.GENERATE_STEP)
    @maps_domain_errors
    async def generate_step(self, inp: StepRequest) -> StepResult:
        """Generate and persist a step's edits; stored edits are reused, never regenerated."""
        ctx = await self._context(inp.ref)
        step = self._step(ctx, inp.step_index)
        if step.generated_edits is not None:
            return StepResult(step_index=inp.step_index, reused=True)
        path = await self._ensure_worktree(ctx, upto_step=inp.step_index)
        await self._generate_and_store(ctx, step, path, inp.commit_timestamp)
        return StepResult(step_index=inp.step_index)

    async def _generate_and_store(
        self, ctx: _Context, step: ExecutionStepRow, path: Path, commit_timestamp: int
    ) -> ExecutionStepRow:
        """Ask the engine for the step's edits and store them before anything applies them."""
        engine = build_engine(ctx.execution.engine, self.deps.llm)  # type: ignore[arg-type]
        request = ctx.request()
        budget = await self._budget(ctx)
        plan_step = PlanStep(
            index=step.step_index,
            description=step.description,
            type=StepType(step.step_type),
            target_files=list(step.target_files or []),
        )
        # a model call takes a while: say the step started before it, not after
        slow = ctx.execution.engine != "spec"
        if slow:
            async with UnitOfWork(self.deps.sessions) as uow:
                await self._start_step(uow, ctx, step)
                await uow.commit()
        try:
            generated = await run_blocking(
                lambda cancel, progress: engine.generate(
                    request,
                    plan_step,
                    FilesystemWorkspace(path),
                    budget,
                    progress=progress,
                    cancel=cancel,
                ),
                what=f"generating step {step.step_index}",
            )
        except DomainError as err:
            await self._fail_step(ctx, step, err, "generate")
            raise
        async with UnitOfWork(self.deps.sessions) as uow:
            if not slow:
                await self._start_step(uow, ctx, step)
            await self._record_usage(uow, ctx, f"step-{step.step_index}", generated.usage)
            stored = await uow.steps.record_edits(
                ctx.tenant,
                step.id,
                generated.edits,
                commit_message=_commit_message(ctx, step),
                commit_timestamp=commit_timestamp,
            )
            await uow.commit()
        return stored

    async def _start_step(self, uow: UnitOfWork, ctx: _Context, step: ExecutionStepRow) -> None:
        await uow.steps.update_state(ctx.tenant, step.id, StepState.RUNNING)
        await self._append(
            uow,
            ctx.execution.id,
            EventType.STEP_STARTED,
            {"step_index": step.step_index, "description": step.description},
            event_id=uuid.UUID(derived_id(ctx.execution.id, "step.started", step.step_index)),
        )

    @activity.defn(name=Activity.APPLY_STEP)
    @maps_domain_errors
    async def apply_step(self, inp: StepRequest) -> StepResult:
        """Apply the stored edits on the previous step's commit and commit them; a step with
        no stored edits yet (the spec engine's, cheap to compute) is generated first."""
        ctx = await self._context(inp.ref)
        step = self._step(ctx, inp.step_index)
        if step.state == StepState.COMPLETED and step.commit_sha:
            return StepResult(
                step_index=inp.step_index,
                commit_sha=step.commit_sha,
                reused=True,
                lines_added=step.lines_added or 0,
                lines_removed=step.lines_removed or 0,
            )
        path = await self._ensure_worktree(ctx, upto_step=inp.step_index)
        if step.generated_edits is None:
            step = await self._generate_and_store(ctx, step, path, inp.commit_timestamp)
        edits = _edits_of(step)
        constraints = ctx.constraints
        git = self.deps.git

        def apply(cancel: Any, progress: Any) -> Any:
            touched = git.apply_edits(
                path, edits, constraints.allowed_paths, constraints.forbidden_paths
            )
            # only the declared edits enter the commit, never what a build left behind
            return git.commit(
                path,
                step.commit_message or step.description,
                step.commit_timestamp or inp.commit_timestamp,
                paths=touched,
            )

        try:
            committed = await run_blocking(apply, what=f"applying step {step.step_index}")
        except BaseException as err:
            self._known_clean.pop(ctx.key, None)
            if isinstance(err, DomainError):
                await self._fail_step(ctx, step, err, "apply")
            raise
        self._known_clean[ctx.key] = committed.sha
        async with UnitOfWork(self.deps.sessions) as uow:
            artifacts = ArtifactService(uow.session, self.deps.store)
            for change in committed.files:
                await store_patch(
                    artifacts,
                    ctx.tenant,
                    execution_id=ctx.execution.id,
                    step_id=step.id,
                    file_path=change.file_path,
                    change_type=change.change_type,
                    patch_text=change.patch,
                    inline_limit=self.deps.patch_inline_limit,
                    previous_hash=change.previous_hash,
                    new_hash=change.new_hash,
                    lines_added=change.lines_added,
                    lines_removed=change.lines_removed,
                )
                await self._append(
                    uow,
                    ctx.execution.id,
                    EventType.FILE_CHANGED,
                    {
                        "step_index": step.step_index,
                        "path": change.file_path,
                        "change_type": str(change.change_type),
                        "lines_added": change.lines_added,
                        "lines_removed": change.lines_removed,
                    },
                    event_id=uuid.UUID(
                        derived_id(
                            ctx.execution.id, "file.changed", step.step_index, change.file_path
                        )
                    ),
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
            await uow.executions.update(ctx.tenant, ctx.execution.id, progress=progress)
            await self._append(
                uow,
                ctx.execution.id,
                EventType.STEP_COMPLETED,
                {
                    "step_index": step.step_index,
                    "commit_sha": committed.sha,
                    "files": len(committed.files),
                    "lines_added": committed.lines_added,
                    "lines_removed": committed.lines_removed,
                    "progress": progress.model_dump(mode="json"),
                },
                event_id=uuid.UUID(derived_id(ctx.execution.id, "step.completed", step.step_index)),
            )
            await uow.commit()
        return StepResult(
            step_index=inp.step_index,
            commit_sha=committed.sha,
            files_changed=len(committed.files),
            lines_added=committed.lines_added,
            lines_removed=committed.lines_removed,
        )

    @activity.defn(name=Activity.ADD_REPAIR_STEP)
    @maps_domain_errors
    async def add_repair_step(self, inp: RepairRequest) -> RepairResult:
        """Ask the engine for a fix of a failed build or test; the edits are stored at once."""
        ctx = await self._context(inp.ref)
        steps = ctx.steps
        limit = ctx.constraints.max_steps or 50
        if len(steps) >= limit:
            return RepairResult(step_index=None)
        index = max((s.step_index for s in steps), default=-1) + 1
        path = await self._ensure_worktree(ctx, upto_step=index)
        engine = build_engine(ctx.execution.engine, self.deps.llm)  # type: ignore[arg-type]
        request = ctx.request()
        budget = await self._budget(ctx)
        log = (
            await self._text_artifact(ctx, "test.log")
            or await self._text_artifact(ctx, "build.log")
            or ""
        )
        failure = f"{inp.failure_code}: {inp.failure_message}\n\n{log[-12000:]}"
        generated = await run_blocking(
            lambda cancel, progress: engine.repair(
                request,
                failure,
                FilesystemWorkspace(path),
                budget,
                progress=progress,
                cancel=cancel,
            ),
            what="planning a repair",
        )
        description = f"repair after {inp.failure_code}"
        async with UnitOfWork(self.deps.sessions) as uow:
            await self._record_usage(uow, ctx, f"repair-{index}", generated.usage)
            (row,) = await uow.steps.upsert_steps(
                ctx.tenant,
                ctx.execution.id,
                [PlanStep(index=index, description=description, type=StepType.REFACTOR)],
            )
            await uow.steps.record_edits(
                ctx.tenant,
                row.id,
                generated.edits,
                commit_message=_commit_message(ctx, row),
                commit_timestamp=_repair_timestamp(ctx, index),
            )
            await uow.commit()
        return RepairResult(step_index=index, description=description)

    @activity.defn(name=Activity.VERIFY)
    @maps_domain_errors
    async def verify(self, inp: VerifyRequest) -> VerifyResult:
        """Run the build or the tests in the sandbox; logs and reports become artifacts."""
        ctx = await self._context(inp.ref)
        # the build's outputs stay for the tests
        path = await self._ensure_worktree(ctx, clean=False)
        self._known_clean.pop(ctx.key, None)  # untrusted commands are about to run in it
        commands = (ctx.execution.properties or {}).get(COMMANDS_KEY, {})
        props = ctx.repository.properties or {}
        constraints = ctx.constraints
        runner = self.deps.sandbox
        allow_network = bool(props.get("sandbox_allow_network", False))
        phase = inp.phase
        required = constraints.require_build if phase == "build" else constraints.require_tests
        timeout = self.deps.build_timeout_s if phase == "build" else self.deps.test_timeout_s

        def run(cancel: Any, progress: Any) -> Any:
            if phase == "build" and commands.get("setup"):
                run_phase(
                    "setup",
                    commands["setup"],
                    path,
                    required=True,
                    timeout_s=timeout,
                    runner=runner,
                    allow_network=bool(props.get("setup_allow_network", allow_network)),
                    on_line=progress,
                    cancel=cancel,
                )
            return run_phase(
                phase,
                commands.get(phase),
                path,
                required=required,
                timeout_s=timeout,
                runner=runner,
                allow_network=allow_network,
                on_line=progress,
                cancel=cancel,
            )

        try:
            result = await run_blocking(run, what=f"running the {phase}")
        except DomainError as err:
            failed = getattr(err, "result", None)
            if failed is not None:
                await self._store_phase(ctx, failed, passed=False)
            raise
        await self._store_phase(ctx, result, passed=True)
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
        )

    @activity.defn(name=Activity.PUSH)
    @maps_domain_errors
    async def push(self, inp: PushRequest) -> PushResult:
        """Push the finished branch, only while holding the lock, never over foreign commits."""
        ctx = await self._context(inp.ref)
        async with UnitOfWork(self.deps.sessions) as uow:
            lease = await uow.locks.holder(_lock_key(ctx.execution))
        if (
            lease is None
            or lease.owner_id != inp.owner_id
            or lease.fencing_token != inp.fencing_token
        ):
            raise PushRejected(
                f"the lock on {_lock_key(ctx.execution)} is no longer held by this "
                "execution; not pushing"
            )
        path = await self._ensure_worktree(ctx, clean=False)
        credential = await self._credential(ctx)
        base = ctx.execution.base_commit or ""
        git = self.deps.git
        branch = ctx.execution.feature_branch or ""
        # the commit recorded for the last step, never the worktree's branch ref or HEAD
        done = [s.commit_sha for s in ctx.steps if s.state == StepState.COMPLETED and s.commit_sha]
        tested = done[-1] if done else base
        pushed = await run_blocking(
            lambda cancel, progress: git.push_commit(
                path,
                ctx.repository.url,
                credential,
                branch,
                tested or "",
                base_commit=base,
                progress=progress,
                cancel=cancel,
            ),
            what="pushing",
        )
        patch, stats = range_patch(path, base, pushed.remote_sha)
        async with UnitOfWork(self.deps.sessions) as uow:
            steps = await uow.steps.get_by_feature_id(ctx.tenant, ctx.execution.id)
            artifact = await ArtifactService(uow.session, self.deps.store).put(
                ctx.tenant,
                ctx.execution.id,
                "feature.patch",
                ArtifactType.PATCH,
                "text/x-diff",
                data=patch.encode(),
            )
            result = DeliveryResult(
                branch_name=branch,
                commit_sha=pushed.remote_sha,
                commit_count=sum(1 for s in steps if s.commit_sha),
                files_changed=len(stats),
                lines_added=sum(s.lines_added for s in stats),
                lines_removed=sum(s.lines_removed for s in stats),
                patch_url=f"/v1/executions/{ctx.execution.id}/artifacts/{artifact.id}/content",
                summary=f"{len(steps)} step(s) on {branch}",
            )
            await uow.executions.update(ctx.tenant, ctx.execution.id, result=result)
            await self._append(
                uow,
                ctx.execution.id,
                EventType.PUSH_COMPLETED,
                {
                    "branch": branch,
                    "commit_sha": pushed.remote_sha,
                    "already_up_to_date": pushed.already_up_to_date,
                },
                event_id=uuid.UUID(derived_id(ctx.execution.id, "push.completed")),
            )
            await uow.commit()
        return PushResult(result=result, already_up_to_date=pushed.already_up_to_date)

    @activity.defn(name=Activity.CLEANUP)
    @maps_domain_errors
    async def cleanup(self, inp: CleanupRequest) -> None:
        """Keep what was done (a partial patch when unfinished), then give the worktree up."""
        ctx = await self._context(inp.ref)
        path = self.deps.git.workspace_path(ctx.key)
        head = worktree_head(path)
        base = ctx.execution.base_commit
        if not inp.keep_warm and head and base and head != base:
            patch, _ = range_patch(path, base, head)
            async with UnitOfWork(self.deps.sessions) as uow:
                await ArtifactService(uow.session, self.deps.store).put(
                    ctx.tenant,
                    ctx.execution.id,
                    "partial.patch",
                    ArtifactType.PATCH,
                    "text/x-diff",
                    data=patch.encode(),
                    metadata={"partial": True, "head": head},
                )
                await uow.commit()
        git = self.deps.git
        await run_blocking(
            lambda cancel, progress: git.release_workspace(ctx.key, inp.keep_warm),
            what="releasing the worktree",
        )

    # ---- helpers ----------------------------------------------------------------------------

    async def _context(self, ref: ExecutionRef) -> _Context:
        """The execution, its repository and its steps, read in one unit of work."""
        async with UnitOfWork(self.deps.sessions) as uow:
            execution = await uow.executions.get(ref.tenant_id, ref.execution_id)
            repository = await uow.repositories.get(ref.tenant_id, execution.repository_id)
            steps = await uow.steps.get_by_feature_id(ref.tenant_id, execution.id)
        return _Context(execution=execution, repository=repository, steps=steps)

    async def _credential(self, ctx: _Context) -> GitCredential | None:
        """Decrypt the repository's credential: only activities that talk to the remote."""
        async with UnitOfWork(self.deps.sessions) as uow:
            loaded = await CredentialRepository(uow.session, self.deps.keyring).load_credential(
                ctx.tenant, ctx.repository.id
            )
        if loaded is None:
            return None
        credential = GitCredential(type=loaded[0], data=loaded[1])
        # whatever a library logs from here on, these values come out redacted
        register_secrets(credential.secrets())
        return credential

    def _step(self, ctx: _Context, index: int) -> ExecutionStepRow:
        for step in ctx.steps:
            if step.step_index == index:
                return step
        raise NotFound(f"execution step {index} of {ctx.execution.id} not found")

    async def _ensure_worktree(
        self, ctx: _Context, upto_step: int | None = None, *, clean: bool = True
    ) -> Path:
        """The worktree at the commit of the last completed step before `upto_step` (or of
        all completed steps): as it is when already there, reset when this worker holds the
        commit, rebuilt from the stored edits of the completed steps when it does not.

        `clean` also requires no stray files (before applying edits, which commit the whole
        worktree); build and test outputs may stay for verification and push.
        """
        done = [
            s
            for s in ctx.steps
            if s.state == StepState.COMPLETED
            and s.commit_sha
            and (upto_step is None or s.step_index < upto_step)
        ]
        git = self.deps.git
        key = ctx.key
        path = git.workspace_path(key)
        execution = ctx.execution
        base = execution.base_commit
        expected = done[-1].commit_sha if done else base
        at_expected = bool(expected) and worktree_head(path) == expected
        if at_expected and (not clean or self._known_clean.get(key) == expected or is_clean(path)):
            return path
        if expected and has_commit(path, expected):
            reset_worktree(path, expected, execution.feature_branch or "")
            self._known_clean[key] = expected
            return path
        replay = [
            ReplayStep(
                edits=_edits_of(s),
                message=s.commit_message or s.description,
                timestamp=s.commit_timestamp or 0,
                expected_sha=s.commit_sha or "",
            )
            for s in done
        ]
        url, credential = ctx.repository.url, await self._credential(ctx)
        target, branch = execution.target_branch, execution.feature_branch or ""
        workspace = await run_blocking(
            lambda cancel, progress: (
                git.rebuild_workspace(
                    url,
                    credential,
                    key,
                    target,
                    branch,
                    base,
                    replay,
                    progress=progress,
                    cancel=cancel,
                    tenant=str(ctx.tenant),
                )
                if base
                else git.open_workspace(
                    url,
                    credential,
                    key,
                    target,
                    branch,
                    progress=progress,
                    cancel=cancel,
                    tenant=str(ctx.tenant),
                )
            ),
            what="preparing the worktree",
        )
        if not base:
            async with UnitOfWork(self.deps.sessions) as uow:
                await uow.executions.update(
                    ctx.tenant, execution.id, base_commit=workspace.base_commit
                )
                await uow.commit()
            execution.base_commit = workspace.base_commit
        self._known_clean[key] = workspace.head
        return workspace.path

    async def _append(
        self,
        uow: UnitOfWork,
        execution_id: uuid.UUID,
        event_type: str,
        payload: dict[str, Any],
        *,
        event_id: uuid.UUID,
        causation_id: uuid.UUID | None = None,
    ) -> None:
        await uow.events.append(
            execution_id,
            str(event_type),
            payload,
            event_id=event_id,
            causation_id=causation_id,
            correlation_id=execution_id,
            producer_id=self.deps.producer_id,
        )

    async def _fail_step(
        self, ctx: _Context, step: ExecutionStepRow, err: DomainError, phase: str
    ) -> None:
        error = StepError(
            code=err.code.value,
            message=err.message,
            phase=phase,
            details=err.details or None,
            retryable=err.retryable,
        )
        async with UnitOfWork(self.deps.sessions) as uow:
            await uow.steps.update_state(ctx.tenant, step.id, StepState.FAILED, error=error)
            await self._append(
                uow,
                ctx.execution.id,
                EventType.STEP_FAILED,
                {"step_index": step.step_index, "error": error.model_dump(mode="json")},
                event_id=uuid.UUID(
                    derived_id(ctx.execution.id, "step.failed", step.step_index, step.attempt_count)
                ),
            )
            await uow.commit()

    async def _budget(self, ctx: _Context) -> Budget:
        llm = self.deps.llm
        if llm is None or ctx.execution.engine != "llm":
            return Budget()
        async with UnitOfWork(self.deps.sessions) as uow:
            payloads = (
                await uow.session.scalars(
                    select(ExecutionEventRow.payload).where(
                        ExecutionEventRow.feature_execution_id == ctx.execution.id,
                        ExecutionEventRow.event_type == EventType.LLM_USAGE.value,
                    )
                )
            ).all()
        spent = [Usage.model_validate(json.loads(p)["usage"]) for p in payloads]
        return Budget.from_usage(llm.max_tokens_budget, llm.max_cost_usd, spent)

    async def _record_usage(
        self, uow: UnitOfWork, ctx: _Context, purpose: str, usage: list[Usage]
    ) -> None:
        for n, u in enumerate(usage):
            await self._append(
                uow,
                ctx.execution.id,
                EventType.LLM_USAGE,
                {"purpose": purpose, "usage": u.model_dump(mode="json")},
                event_id=uuid.UUID(derived_id(ctx.execution.id, "llm.usage", purpose, n)),
            )

    async def _analysis(self, ctx: _Context) -> Any:
        from activities.analysis.report import AnalysisReport

        text = await self._text_artifact(ctx, ANALYSIS_ARTIFACT)
        return AnalysisReport.model_validate_json(text) if text else None

    async def _text_artifact(self, ctx: _Context, name: str) -> str | None:
        """An artifact of this execution by name (its id derives from the name)."""
        async with UnitOfWork(self.deps.sessions) as uow:
            service = ArtifactService(uow.session, self.deps.store)
            try:
                stream = await service.open(ctx.tenant, artifact_id_for(ctx.execution.id, name))
            except NotFound:
                return None
            chunks = [c async for c in stream]
        return b"".join(chunks).decode(errors="replace")

    async def _store_phase(self, ctx: _Context, result: Any, *, passed: bool) -> None:
        kind = result.kind
        async with UnitOfWork(self.deps.sessions) as uow:
            artifacts = ArtifactService(uow.session, self.deps.store)
            if not result.skipped:
                await artifacts.put(
                    ctx.tenant,
                    ctx.execution.id,
                    f"{kind}.log",
                    ArtifactType.BUILD_LOG,
                    "text/plain; charset=utf-8",
                    data=result.log.encode(),
                    metadata={
                        "phase": kind,
                        "exit_code": result.exit_code,
                        "truncated": result.truncated,
                    },
                )
            payload: dict[str, Any] = {
                "phase": kind,
                "passed": passed,
                "skipped": result.skipped,
                "exit_code": result.exit_code,
                "duration_s": round(result.duration_s, 3),
            }
            if result.test_report is not None:
                report = result.test_report
                await artifacts.put(
                    ctx.tenant,
                    ctx.execution.id,
                    "test-report.json",
                    ArtifactType.TEST_REPORT,
                    "application/json",
                    data=_json_bytes(report),
                )
                payload["tests"] = {
                    "total": report.total,
                    "passed": report.passed,
                    "failed": report.failed,
                    "errors": report.errors,
                    "skipped": report.skipped,
                }
            if result.coverage is not None:
                await artifacts.put(
                    ctx.tenant,
                    ctx.execution.id,
                    "coverage-report.json",
                    ArtifactType.COVERAGE_REPORT,
                    "application/json",
                    data=_json_bytes(result.coverage),
                )
            event = EventType.TEST_COMPLETED if kind == "test" else EventType.BUILD_COMPLETED
            attempt = activity.info().attempt if activity.in_activity() else 1
            await self._append(
                uow,
                ctx.execution.id,
                event,
                payload,
                event_id=uuid.UUID(
                    derived_id(
                        ctx.execution.id,
                        event.value,
                        kind,
                        _verify_round(ctx),
                        attempt if not passed else 0,
                    )
                ),
            )
            await uow.commit()


_FINAL_EVENTS = {
    FeatureState.COMPLETED: EventType.EXECUTION_COMPLETED,
    FeatureState.FAILED: EventType.EXECUTION_FAILED,
    FeatureState.CANCELLED: EventType.EXECUTION_CANCELLED,
}


def _lock_key(row: FeatureExecutionRow) -> str:
    return f"branch:{row.repository_id}:{row.feature_branch}"


async def _lock_feature(uow: UnitOfWork, key: str) -> str | None:
    from persistence.tables import DistributedLockRow

    feature = await uow.session.scalar(
        select(DistributedLockRow.feature_id).where(DistributedLockRow.lock_key == key)
    )
    return str(feature) if feature else None


def _edits_of(step: ExecutionStepRow) -> list[FileEdit]:
    return file_edits_adapter.validate_python(step.generated_edits or [])


def _commit_message(ctx: _Context, step: ExecutionStepRow) -> str:
    subject = (
        step.description.strip().splitlines()[0][:72]
        if step.description.strip()
        else "builder step"
    )
    return (
        f"{subject}\n\n{ctx.execution.title}\n\n"
        f"Builder-Execution: {ctx.execution.id}\nBuilder-Step: {step.step_index}\n"
    )


def _repair_timestamp(ctx: _Context, index: int) -> int:
    started = ctx.execution.created_at
    return int(started.timestamp()) + index


def _verify_round(ctx: _Context) -> int:
    """Repairs add steps; the number of steps tells verification rounds apart."""
    progress = ctx.execution.progress or {}
    return int(progress.get("total_steps", 0))


def _json_bytes(obj: Any) -> bytes:
    if hasattr(obj, "model_dump_json"):
        return bytes(obj.model_dump_json().encode())
    import dataclasses

    return json.dumps(dataclasses.asdict(obj), default=str).encode()


async def build_pipeline(settings: Settings, *, worker_queue: str) -> FeaturePipeline:
    """The pipeline of a worker process (the composition root calls this)."""
    return FeaturePipeline(build_deps(settings, worker_queue))

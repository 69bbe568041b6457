"""The worktree's life on a worker: made (or rebuilt) at the start, given up at the end."""

from __future__ import annotations

from temporalio import activity

from activities.git.worktree_state import range_patch, worktree_head
from activities.phases.context import Phase, PhaseDeps, event_id
from activities.phases.worktree import Use, WorktreeCache
from activities.runtime import maps_domain_errors, run_blocking
from domain.contracts import CleanupRequest, ExecutionRef, WorkspaceResult
from domain.enums import ArtifactType
from domain.events import EventType
from persistence.repositories.base import UNSET
from workflows.activities import WorkspaceActivities

PARTIAL_PATCH = "partial.patch"


class Workspaces(Phase, WorkspaceActivities):
    def __init__(self, deps: PhaseDeps, worktrees: WorktreeCache) -> None:
        super().__init__(deps)
        self.worktrees = worktrees

    @activity.defn
    @maps_domain_errors
    async def open_workspace(self, ref: ExecutionRef) -> WorkspaceResult:
        """Fetch into the mirror and make this worker's worktree, rebuilding completed steps."""
        ctx = await self.context(ref)
        first = ctx.execution.base_commit is None
        path = await self.worktrees.prepare(ctx, Use.READ)
        async with self.unit() as uow:
            base_commit = ctx.execution.base_commit
            row = await uow.executions.update(
                ctx.tenant,
                ctx.id,
                workspace_path=str(path),
                base_commit=base_commit if first and base_commit else UNSET,
            )
            base = row.base_commit or ""
            self.emit(
                uow,
                row.id,
                EventType.WORKSPACE_READY,
                {
                    "base_commit": base,
                    "feature_branch": row.feature_branch,
                    "worker": self.deps.worker_queue,
                },
                event_id=event_id(row.id, "workspace.ready", self.deps.worker_queue),
            )
            await uow.commit()
        return WorkspaceResult(
            task_queue=self.deps.worker_queue,
            base_commit=base,
            feature_branch=row.feature_branch or "",
        )

    @activity.defn
    @maps_domain_errors
    async def cleanup(self, inp: CleanupRequest) -> None:
        """Keep what was done (a partial patch when unfinished), then give the worktree up."""
        ctx = await self.context(inp.ref)
        path = self.worktrees.path(ctx)
        base = ctx.execution.base_commit
        keep_warm = inp.keep_warm

        def partial(cancel: object, progress: object) -> tuple[str, str] | None:
            head = worktree_head(path)
            if keep_warm or not head or not base or head == base:
                return None
            return range_patch(path, base, head)[0], head

        found = await run_blocking(partial, what="saving the partial patch")
        if found is not None:
            patch, head = found
            async with self.unit() as uow:
                await self.put_artifact(
                    uow, ctx, PARTIAL_PATCH, ArtifactType.PATCH, "text/x-diff",
                    patch.encode(), metadata={"partial": True, "head": head},
                )  # fmt: skip
                await uow.commit()
        self.worktrees.forget(ctx)
        git = self.deps.git
        await run_blocking(
            lambda cancel, progress: git.release_workspace(ctx.key, keep_warm),
            what="releasing the worktree",
        )

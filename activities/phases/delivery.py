"""Delivery: the finished branch pushed while the lease is held, never over foreign commits,
and only the commit the tests passed on."""

from __future__ import annotations

import threading

from temporalio import activity

from activities.git.worktree_state import range_patch
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id
from activities.phases.locks import lock_key
from activities.phases.pull_request import pull_request_settings
from activities.phases.worktree import Use, WorktreeCache, completed_steps
from activities.runtime import Progress, maps_domain_errors, run_blocking
from domain.contracts import PushRequest, PushResult
from domain.enums import ArtifactType
from domain.errors import PushRejected, ValidationFailed
from domain.events import EventType
from domain.values import DeliveryResult, FileChangeStat
from workflows.activities import DeliveryActivities

FEATURE_PATCH = "feature.patch"


class Delivery(Phase, DeliveryActivities):
    def __init__(self, deps: PhaseDeps, worktrees: WorktreeCache) -> None:
        super().__init__(deps)
        self.worktrees = worktrees

    @activity.defn
    @maps_domain_errors
    async def push(self, inp: PushRequest) -> PushResult:
        """Push the finished branch, only while holding the lock, never over foreign commits."""
        ctx = await self.context(inp.ref)
        await self._check_lease(ctx, inp)
        done = completed_steps(ctx)
        head = done[-1].commit_sha if done else ctx.execution.base_commit
        if inp.verified_commit is not None and inp.verified_commit != head:
            raise PushRejected(
                f"the tests passed on {inp.verified_commit[:12]} but the branch to push is at "
                f"{(head or '?')[:12]}; not pushing a commit that was not verified"
            )
        path = await self.worktrees.prepare(ctx, Use.READ)
        credential = await self.credential(ctx)
        base = ctx.execution.base_commit or ""
        git, url = self.deps.git, ctx.repository.url
        branch = ctx.execution.feature_branch or ""

        def push(
            cancel: threading.Event, progress: Progress
        ) -> tuple[str, bool, str, list[FileChangeStat]]:
            # the commit recorded for the last step, never the worktree's branch ref or HEAD
            pushed = git.push_commit(
                path, url, credential, branch, head or "", base_commit=base,
                progress=progress, cancel=cancel,
            )  # fmt: skip
            patch, stats = range_patch(path, base, pushed.remote_sha)
            return pushed.remote_sha, pushed.already_up_to_date, patch, stats

        try:
            remote_sha, up_to_date, patch, stats = await run_blocking(push, what="pushing")
        except PushRejected as err:
            if not ctx.execution.continues_branch or "did not make" not in err.message:
                raise
            # a follow-up never force-pushes: say what to do instead
            raise PushRejected(
                f"{err.message}. The branch moved after this follow-up started from it; a "
                "follow-up only fast-forwards: start another follow-up to build on the new head",
                details=err.details,
            ) from None
        async with self.unit() as uow:
            artifact = await self.put_artifact(
                uow, ctx, FEATURE_PATCH, ArtifactType.PATCH, "text/x-diff", patch.encode()
            )
            result = DeliveryResult(
                branch_name=branch,
                commit_sha=remote_sha,
                commit_count=len(done),
                files_changed=len(stats),
                lines_added=sum(s.lines_added for s in stats),
                lines_removed=sum(s.lines_removed for s in stats),
                patch_url=f"/v1/executions/{ctx.id}/artifacts/{artifact.id}/content",
                summary=f"{len(ctx.steps)} step(s) on {branch}",
            )
            await uow.executions.update(ctx.tenant, ctx.id, result=result)
            self.emit(
                uow,
                ctx.id,
                EventType.PUSH_COMPLETED,
                {"branch": branch, "commit_sha": remote_sha, "already_up_to_date": up_to_date},
                event_id=event_id(ctx.id, "push.completed"),
            )
            await uow.commit()
        return PushResult(
            result=result, already_up_to_date=up_to_date, pull_request_wanted=_wants_pr(ctx)
        )

    async def _check_lease(self, ctx: ExecutionContext, inp: PushRequest) -> None:
        key = lock_key(ctx.execution)
        async with self.reads() as uow:
            lease = await uow.locks.holder(key)
        if (
            lease is None
            or lease.owner_id != inp.owner_id
            or lease.fencing_token != inp.fencing_token
        ):
            raise PushRejected(
                f"the lock on {key} is no longer held by this execution; not pushing"
            )


def _wants_pr(ctx: ExecutionContext) -> bool:
    """Whether delivery follows the push. A setting that does not parse (the API refuses
    one, but rows may predate the rule) still asks: deliver_pull_request then fails with
    its message while the pushed branch stays recorded."""
    try:
        return pull_request_settings(ctx).wanted
    except ValidationFailed:
        return True

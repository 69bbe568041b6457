"""Pull request delivery: after the push, the pushed branch becomes (or updates) a pull
request on the repository's forge.

The activity needs no worktree: everything the body says comes from Postgres (plan, steps,
file changes) and the test report artifact. It loads the repository's credential itself,
opens the forge client, and calls `ensure_pull_request`, which finds an open pull request
from the branch before creating one, so a retried activity (a worker killed between the
create call and the record) never opens a second one. Events have ids derived from the
execution, so a retry appends nothing twice.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity

from activities.forges import (
    FileLine,
    FollowUpContent,
    Forge,
    PullRequest,
    PullRequestContent,
    StepLine,
    TestSummary,
    answer_thread,
    ensure_pull_request,
    open_forge,
    post_follow_up,
)
from activities.forges.delivery import DeliveryOutcome
from activities.phases.context import ExecutionContext, Phase, event_id
from activities.phases.review import stored_threads, wants_review
from activities.phases.verify import TEST_REPORT_ARTIFACT
from activities.runtime import maps_domain_errors
from domain.contracts import PullRequestRequest, PullRequestResult
from domain.enums import StepState
from domain.events import EventType
from domain.pull_requests import PullRequestSettings, resolve_pull_request_settings
from domain.values import DeliveryResult, ExecutionPlan
from workflows.activities import PullRequestActivities


def pull_request_settings(ctx: ExecutionContext) -> PullRequestSettings:
    """The effective setting: the repository's default, overridden by the execution's."""
    return resolve_pull_request_settings(ctx.repository.properties, ctx.execution.properties)


def execution_url(public_url: str | None, execution_id: str) -> str | None:
    if not public_url:
        return None
    return f"{public_url.rstrip('/')}/v1/executions/{execution_id}"


def follow_up_content(
    ctx: ExecutionContext, content: PullRequestContent, pushed: DeliveryResult
) -> FollowUpContent:
    """The "what changed" comment of a follow-up: its commits on top of the head it began at."""
    return FollowUpContent(
        execution_id=content.execution_id,
        title=content.title,
        branch=pushed.branch_name,
        commit_sha=pushed.commit_sha,
        previous_sha=ctx.execution.base_commit,
        commit_count=pushed.commit_count,
        description=content.description,
        steps=content.steps,
        files=content.files,
        tests=content.tests,
        execution_url=content.execution_url,
    )


class PullRequests(Phase, PullRequestActivities):
    @activity.defn
    @maps_domain_errors
    async def deliver_pull_request(self, inp: PullRequestRequest) -> PullRequestResult:
        """Open the pull request of the pushed branch, or bring this execution's up to date."""
        ctx = await self.context(inp.ref)
        settings = pull_request_settings(ctx)
        content = await self._content(ctx, inp.pushed)
        credential = await self.credential(ctx)
        forge = await open_forge(
            ctx.repository.url,
            ctx.repository.provider,
            ctx.repository.properties,
            credential,
            self.deps.git.config,
        )
        try:
            outcome = await ensure_pull_request(
                forge,
                execution_id=str(ctx.id),
                head=inp.pushed.branch_name,
                base=ctx.execution.target_branch,
                title=ctx.execution.title,
                content=content,
                settings=settings,
            )
            commented = False
            if ctx.execution.continues_branch and not outcome.created:
                # a follow-up on the branch of an open pull request says what it added
                await post_follow_up(
                    forge, outcome.pull_request, follow_up_content(ctx, content, inp.pushed)
                )
                commented = True
            answered = await self._answer_review(ctx, forge, outcome.pull_request, inp.pushed)
        finally:
            await forge.aclose()
        pr = outcome.pull_request
        result = inp.pushed.model_copy(
            update={"pull_request_url": pr.url, "pull_request_number": pr.number}
        )
        async with self.unit() as uow:
            await uow.executions.update(ctx.tenant, ctx.id, result=result)
            self._stage_event(
                uow, ctx, outcome, settings, inp.pushed.commit_sha, commented, answered
            )
            await uow.commit()
        return PullRequestResult(
            result=result,
            created=outcome.created,
            updated=outcome.updated,
            adopted=outcome.adopted,
            notes=list(outcome.notes),
        )

    def _stage_event(
        self,
        uow: Any,
        ctx: ExecutionContext,
        outcome: DeliveryOutcome,
        settings: PullRequestSettings,
        commit_sha: str,
        commented: bool,
        answered: int,
    ) -> None:
        pr = outcome.pull_request
        payload: dict[str, Any] = {
            "number": pr.number,
            "url": pr.url,
            "branch": pr.head,
            "base": pr.base,
            "draft": settings.draft,
            "commit_sha": commit_sha,
            "notes": list(outcome.notes)[:10],
            "follow_up_comment": commented,
            "review_threads_answered": answered,
        }
        if commented or outcome.adopted or (outcome.updated and not outcome.created):
            # someone else's pull request from the branch, or ours brought up to date
            kind = EventType.PULL_REQUEST_UPDATED
            eid = event_id(ctx.id, kind.value, commit_sha)
        else:
            # ours: created now or by an attempt that died before recording it
            kind = EventType.PULL_REQUEST_OPENED
            eid = event_id(ctx.id, kind.value)
        self.emit(uow, ctx.id, kind, payload, event_id=eid)

    async def _answer_review(
        self, ctx: ExecutionContext, forge: Forge, pr: PullRequest, pushed: DeliveryResult
    ) -> int:
        """Reply once to each review thread the follow-up took as its request."""
        if not wants_review(ctx):
            return 0
        addressed = {t.id for t in await stored_threads(self, ctx) or []}
        if not addressed:
            return 0
        # as the forge shows them now: a thread answered (and resolved) by an earlier
        # attempt is not answered again
        current = [t for t in await forge.unresolved_review_threads(pr) if t.id in addressed]
        reply = f"Addressed in `{pushed.commit_sha[:12]}` by builder execution `{ctx.id}`."
        for thread in current:
            await answer_thread(forge, pr, thread, reply, execution_id=str(ctx.id))
        return len(current)

    async def _content(self, ctx: ExecutionContext, pushed: DeliveryResult) -> PullRequestContent:
        """The body's material: plan summary, steps, files (+/-), tests, the link."""
        plan = ExecutionPlan.model_validate(ctx.execution.plan) if ctx.execution.plan else None
        async with self.unit() as uow:
            changes = await uow.file_changes.list_by_execution(ctx.tenant, ctx.id)
        files: dict[str, FileLine] = {}
        for change in changes:
            seen = files.get(change.file_path)
            added = (change.lines_added or 0) + (seen.lines_added if seen else 0)
            removed = (change.lines_removed or 0) + (seen.lines_removed if seen else 0)
            kind = seen.change_type if seen else change.change_type
            files[change.file_path] = FileLine(change.file_path, kind, added, removed)
        steps = [
            StepLine(s.step_index, s.description, StepState(s.state).label, s.commit_sha)
            for s in sorted(ctx.steps, key=lambda s: s.step_index)
        ]
        return PullRequestContent(
            execution_id=str(ctx.id),
            title=ctx.execution.title,
            description=ctx.execution.description,
            branch=pushed.branch_name,
            base=ctx.execution.target_branch,
            plan_summary=plan.summary if plan else None,
            steps=steps,
            files=list(files.values()),
            tests=await self._tests(ctx),
            execution_url=execution_url(self.deps.public_url, str(ctx.id)),
        )

    async def _tests(self, ctx: ExecutionContext) -> TestSummary | None:
        raw = await self.text_artifact(ctx, TEST_REPORT_ARTIFACT)
        if not raw:
            return None
        try:
            report = json.loads(raw)
        except ValueError:
            return None
        return TestSummary(
            passed=int(report.get("passed") or 0),
            failed=int(report.get("failed") or 0),
            skipped=int(report.get("skipped") or 0),
            errors=int(report.get("errors") or 0),
            duration_s=report.get("duration_s"),
        )

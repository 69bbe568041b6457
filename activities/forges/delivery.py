"""Idempotent pull request delivery on any forge: what the push phase calls.

`ensure_pull_request` looks for an open pull request from the branch first, so a retried
activity never opens a second one; it rewrites title and body only of a pull request this
execution opened (its marker is in the body) and leaves anyone else's alone. Labels,
reviewers and assignees are added when missing; what a forge cannot or will not apply
becomes a note, not a failure. `post_follow_up` and `answer_thread` use markers the same way,
so a retry never comments twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from activities.forges.body import (
    FollowUpContent,
    PullRequestContent,
    find_marker,
    marker,
    render_body,
    render_follow_up,
    render_title,
)
from activities.forges.model import (
    Forge,
    ForgeKind,
    PostedComment,
    PullRequest,
    PullRequestDraft,
    ReviewThread,
)
from domain.pull_requests import PullRequestSettings


@dataclass(frozen=True)
class DeliveryOutcome:
    """What delivery did to the forge."""

    pull_request: PullRequest
    created: bool
    updated: bool
    # an open pull request from the branch that this execution did not open (a follow-up's)
    adopted: bool
    notes: tuple[str, ...] = ()


_DRAFT_PREFIX = re.compile(r"^\s*(?:\[(?:draft|wip)\]|\((?:draft|wip)\)|(?:draft|wip):)\s*", re.I)


def _without_draft_prefix(kind: ForgeKind, title: str) -> str:
    """GitLab and Gitea mark drafts in the title; the prefix is not part of ours."""
    if kind in (ForgeKind.GITLAB, ForgeKind.GITEA):
        return _DRAFT_PREFIX.sub("", title, count=1).strip()
    return title.strip()


def _missing(wanted: Sequence[str], present: Sequence[str]) -> list[str]:
    have = {p.lower() for p in present}
    return [w for w in wanted if w.lower() not in have]


async def ensure_pull_request(
    forge: Forge,
    *,
    execution_id: str,
    head: str,
    base: str,
    title: str,
    content: PullRequestContent,
    settings: PullRequestSettings,
) -> DeliveryOutcome:
    """The open pull request from `head` into `base`, opened or brought up to date."""
    wanted_title = render_title(title, forge.limits)
    wanted_body = render_body(forge.kind, content, forge.limits)
    pr = await forge.find_open_pull_request(head, base)
    created = False
    if pr is None:
        pr, created = await forge.create_pull_request(
            PullRequestDraft(
                title=wanted_title, body=wanted_body, head=head, base=base, draft=settings.draft
            )
        )
    updated = adopted = False
    if not created:
        if find_marker(pr.body) == execution_id:
            title_changed = _without_draft_prefix(forge.kind, pr.title) != wanted_title
            body_changed = pr.body.strip() != wanted_body.strip()
            if title_changed or body_changed:
                pr = await forge.update_pull_request(
                    pr,
                    title=wanted_title if title_changed else None,
                    body=wanted_body if body_changed else None,
                )
                updated = True
        else:
            adopted = True
    notes: list[str] = []
    for applied in (
        await forge.add_labels(pr, _missing(settings.labels, pr.labels)),
        await forge.request_reviewers(pr, _missing(settings.reviewers, pr.reviewers)),
        await forge.set_assignees(pr, _missing(settings.assignees, pr.assignees)),
    ):
        notes.extend(applied.notes)
    return DeliveryOutcome(pr, created, updated, adopted, tuple(notes))


async def post_follow_up(
    forge: Forge, pr: PullRequest, content: FollowUpContent
) -> tuple[PostedComment, bool]:
    """The follow-up's "what changed" comment on `pr`; True when this call posted it."""
    tag = marker(forge.kind, content.execution_id, "follow-up")
    existing = await forge.find_comment(pr, tag)
    if existing is not None:
        return existing, False
    return await forge.comment(pr, render_follow_up(forge.kind, content, forge.limits)), True


def reply_marker(kind: ForgeKind, execution_id: str, thread_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in thread_id)
    return marker(kind, f"{execution_id}.{safe}", "reply")


async def answer_thread(
    forge: Forge,
    pr: PullRequest,
    thread: ReviewThread,
    reply: str,
    *,
    execution_id: str,
    resolve: bool = True,
) -> bool:
    """Reply once to a review thread an execution addressed, then resolve it where the API
    allows; True when the thread is resolved now."""
    tag = reply_marker(forge.kind, execution_id, thread.id)
    already = any(tag in c.body for c in thread.comments)
    if not already and forge.kind == ForgeKind.GITEA:
        # Gitea replies land as pull request comments, not inside the thread
        already = await forge.find_comment(pr, tag) is not None
    if not already:
        await forge.reply_to_thread(pr, thread, f"{reply.rstrip()}\n\n{tag}")
    return await forge.resolve_thread(pr, thread) if resolve else False

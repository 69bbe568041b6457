"""Review comments as the request of a follow-up (llm engine, `properties.address_review`).

The planning activity fetches the unresolved review threads of the open pull request from
the branch the follow-up continues, through the forge interface, and stores them as an
artifact before the model sees them, so a retry (and every later step) works from the same
threads. The engine reads them appended to the execution's description; delivery answers
each one it addressed (`answer_thread`, marker per thread, resolved where the API allows).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from activities.codegen.engine import FeatureRequest
from activities.forges import Forge, ReviewComment, ReviewThread, open_forge
from activities.phases.context import ExecutionContext, Phase
from domain.enums import ArtifactType

ADDRESS_REVIEW_PROPERTY = "address_review"
REVIEW_ARTIFACT = "review-threads.json"
MAX_THREADS = 30
MAX_COMMENT_CHARS = 2_000


def wants_review(ctx: ExecutionContext) -> bool:
    execution = ctx.execution
    asked = (execution.properties or {}).get(ADDRESS_REVIEW_PROPERTY) is True
    return asked and execution.engine == "llm" and bool(execution.continues_branch)


async def open_repository_forge(phase: Phase, ctx: ExecutionContext) -> Forge:
    credential = await phase.credential(ctx)
    repo = ctx.repository
    return await open_forge(
        repo.url, repo.provider, repo.properties, credential, phase.deps.git.config
    )


def _thread_json(thread: ReviewThread) -> dict[str, Any]:
    out = dataclasses.asdict(thread)
    for comment in out["comments"]:
        comment["body"] = comment["body"][:MAX_COMMENT_CHARS]
    return out


def _thread_of(data: dict[str, Any]) -> ReviewThread:
    comments = tuple(ReviewComment(**c) for c in data.get("comments") or ())
    return ReviewThread(**{**data, "comments": comments})


async def stored_threads(phase: Phase, ctx: ExecutionContext) -> list[ReviewThread] | None:
    raw = await phase.text_artifact(ctx, REVIEW_ARTIFACT)
    if raw is None:
        return None
    return [_thread_of(t) for t in json.loads(raw)]


async def ensure_review_threads(phase: Phase, ctx: ExecutionContext) -> list[ReviewThread]:
    """The threads this follow-up addresses: stored once, fetched the first time."""
    if not wants_review(ctx):
        return []
    stored = await stored_threads(phase, ctx)
    if stored is not None:
        return stored
    forge = await open_repository_forge(phase, ctx)
    try:
        pr = await forge.find_open_pull_request(
            ctx.execution.continues_branch or "", ctx.execution.target_branch
        )
        threads = await forge.unresolved_review_threads(pr) if pr is not None else []
    finally:
        await forge.aclose()
    threads = [t for t in threads if t.comments][:MAX_THREADS]
    async with phase.unit() as uow:
        await phase.put_artifact(
            uow, ctx, REVIEW_ARTIFACT, ArtifactType.ANALYSIS_REPORT, "application/json",
            json.dumps([_thread_json(t) for t in threads]).encode(),
        )  # fmt: skip
        await uow.commit()
    return threads


def review_text(threads: list[ReviewThread]) -> str:
    """The threads as the engine reads them, after the execution's description."""
    if not threads:
        return ""
    lines = ["", "", "Address these unresolved review comments on the pull request:"]
    for number, thread in enumerate(threads, 1):
        where = f"`{thread.path}:{thread.line}`" if thread.path else "(general)"
        lines.append(f"{number}. {where}")
        for comment in thread.comments:
            body = " ".join(comment.body[:MAX_COMMENT_CHARS].split())
            lines.append(f"   - {comment.author}: {body}")
    return "\n".join(lines)


async def feature_request(phase: Phase, ctx: ExecutionContext) -> FeatureRequest:
    """The request the engine works on: the description, with the stored review threads of
    a follow-up that addresses them."""
    request = ctx.request()
    if not wants_review(ctx):
        return request
    threads = await stored_threads(phase, ctx) or []
    text = review_text(threads)
    if not text:
        return request
    return request.model_copy(update={"description": request.description + text})

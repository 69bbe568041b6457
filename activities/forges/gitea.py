"""Gitea and Forgejo pull requests over REST v1.

A draft is a title starting with `WIP: ` (Gitea's work-in-progress prefix); labels are added
by id, looked up by name. The API can neither reply inside a review conversation nor resolve
one: a reply becomes a pull request comment quoting the thread, and resolving is reported as
not possible.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from activities.forges.base import ForgeClient, segment
from activities.forges.errors import ForgeRequestRejected
from activities.forges.http import next_link
from activities.forges.model import (
    Applied,
    ForgeKind,
    PostedComment,
    PullRequest,
    PullRequestDraft,
    ReviewComment,
    ReviewThread,
)

DRAFT_PREFIX = "WIP: "
_DRAFT_PREFIXES = ("wip:", "[wip]")


def is_draft_title(title: str) -> bool:
    return title.strip().lower().startswith(_DRAFT_PREFIXES)


class GiteaForge(ForgeClient):
    """One Gitea/Forgejo repository."""

    kind = ForgeKind.GITEA

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner, repo = self.location.segments
        self._base = f"repos/{segment(owner)}/{segment(repo)}"

    def _pr(self, item: dict[str, Any]) -> PullRequest:
        title = str(item.get("title") or "")
        return PullRequest(
            number=int(item["number"]),
            url=str(item.get("html_url") or ""),
            title=title,
            body=str(item.get("body") or ""),
            head=str(item["head"]["ref"]),
            base=str(item["base"]["ref"]),
            draft=bool(item.get("draft")) or is_draft_title(title),
            labels=tuple(str(label["name"]) for label in item.get("labels") or ()),
            reviewers=tuple(
                str(u.get("login") or u.get("username"))
                for u in item.get("requested_reviewers") or ()
            ),
            assignees=tuple(
                str(u.get("login") or u.get("username")) for u in item.get("assignees") or ()
            ),
        )

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[Any]:
        url: str | None = path
        query: dict[str, Any] | None = {**params, "limit": self.http.config.page_size, "page": 1}
        for _ in range(self.http.config.max_pages):
            if url is None:
                return
            response = await self.http.send("GET", url, params=query)
            for item in response.json() or []:
                yield item
            link = next_link(response.headers)
            url = self.http.same_origin(link) if link else None
            query = None

    async def find_open_pull_request(
        self, head: str, base: str | None = None
    ) -> PullRequest | None:
        # the list has no head filter: every open pull request is paged through
        async for item in self._pages(f"{self._base}/pulls", {"state": "open"}):
            pr = self._pr(item)
            if pr.head == head and (base is None or pr.base == base):
                return pr
        return None

    async def _label_ids(self, names: Sequence[str], applied: Applied) -> list[int]:
        wanted = {n.lower(): n for n in names}
        found: dict[str, int] = {}
        async for label in self._pages(f"{self._base}/labels", {}):
            key = str(label.get("name", "")).lower()
            if key in wanted:
                found[key] = int(label["id"])
        for key, name in wanted.items():
            if key not in found:
                applied.notes.append(f"Gitea repository has no label {name!r}; skipped")
        return list(found.values())

    async def create_pull_request(self, draft: PullRequestDraft) -> tuple[PullRequest, bool]:
        title = draft.title
        if draft.draft and not is_draft_title(title):
            title = DRAFT_PREFIX + title
        try:
            item = await self.http.json(
                "POST",
                f"{self._base}/pulls",
                json_body={
                    "title": title[: self.limits.title],
                    "body": draft.body,
                    "head": draft.head,
                    "base": draft.base,
                },
            )
        except ForgeRequestRejected as err:
            if err.status == 409:
                existing = await self.find_open_pull_request(draft.head, draft.base)
                if existing is not None:
                    return existing, False
            raise
        return self._pr(item), True

    async def update_pull_request(
        self, pr: PullRequest, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = (
                DRAFT_PREFIX + title if pr.draft and not is_draft_title(title) else title
            )
        if body is not None:
            changes["body"] = body
        item = await self.http.json("PATCH", f"{self._base}/pulls/{pr.number}", json_body=changes)
        return self._pr(item)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> Applied:
        applied = Applied()
        ids = await self._label_ids(labels, applied) if labels else []
        if ids:
            await self._soft(
                applied,
                f"add labels {', '.join(labels)}",
                lambda: self.http.send(
                    "POST", f"{self._base}/issues/{pr.number}/labels", json_body={"labels": ids}
                ),
            )
        return applied

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> Applied:
        applied = Applied()
        if reviewers:
            await self._soft(
                applied,
                f"request reviews from {', '.join(reviewers)}",
                lambda: self.http.send(
                    "POST",
                    f"{self._base}/pulls/{pr.number}/requested_reviewers",
                    json_body={"reviewers": list(reviewers)},
                ),
            )
        return applied

    async def set_assignees(self, pr: PullRequest, assignees: Sequence[str]) -> Applied:
        applied = Applied()
        if assignees:
            await self._soft(
                applied,
                f"assign {', '.join(assignees)}",
                lambda: self.http.send(
                    "PATCH",
                    f"{self._base}/pulls/{pr.number}",
                    json_body={"assignees": list(assignees)},
                ),
            )
        return applied

    async def comment(self, pr: PullRequest, body: str) -> PostedComment:
        item = await self.http.json(
            "POST", f"{self._base}/issues/{pr.number}/comments", json_body={"body": body}
        )
        return PostedComment(str(item["id"]), str(item.get("body") or body), item.get("html_url"))

    async def find_comment(self, pr: PullRequest, marker: str) -> PostedComment | None:
        async for item in self._pages(f"{self._base}/issues/{pr.number}/comments", {}):
            if marker in (item.get("body") or ""):
                return PostedComment(str(item["id"]), str(item["body"]), item.get("html_url"))
        return None

    async def unresolved_review_threads(self, pr: PullRequest) -> list[ReviewThread]:
        # a conversation is the review comments on one path and line, across reviews
        grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
        async for review in self._pages(f"{self._base}/pulls/{pr.number}/reviews", {}):
            if not review.get("comments_count"):
                continue
            path = f"{self._base}/pulls/{pr.number}/reviews/{review['id']}/comments"
            for c in await self.http.json("GET", path) or []:
                line = int(c.get("position") or c.get("original_position") or 0)
                grouped.setdefault((str(c.get("path") or ""), line), []).append(c)
        threads = []
        for (path_name, line), comments in grouped.items():
            if any(c.get("resolver") for c in comments):
                continue
            comments.sort(key=lambda c: (str(c.get("created_at") or ""), int(c["id"])))
            threads.append(
                ReviewThread(
                    id=str(comments[0]["id"]),
                    comments=tuple(
                        ReviewComment(
                            id=str(c["id"]),
                            author=str((c.get("user") or {}).get("login") or ""),
                            body=str(c.get("body") or ""),
                            url=c.get("html_url"),
                            created_at=c.get("created_at"),
                        )
                        for c in comments
                    ),
                    path=path_name or None,
                    line=line or None,
                )
            )
        return threads

    async def reply_to_thread(
        self, pr: PullRequest, thread: ReviewThread, body: str
    ) -> PostedComment:
        first = thread.comments[0]
        where = f" on `{thread.path}`" + (f" line {thread.line}" if thread.line else "")
        quoted = "\n".join(f"> {line}" for line in first.body.splitlines()[:5])
        return await self.comment(
            pr, f"@{first.author}{where if thread.path else ''}:\n{quoted}\n\n{body}"
        )

    async def resolve_thread(self, pr: PullRequest, thread: ReviewThread) -> bool:
        return False

"""Bitbucket Data Center (and Server) pull requests over REST 1.0.

Pages are `{values, isLastPage, nextPageStart}`; updates carry the pull request's `version`
(optimistic locking, refreshed once on a 409). There are no labels or assignees; reviewers
are user slugs added as participants. Review threads are inline root comments whose thread
is not resolved.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from activities.forges.base import ForgeClient, segment
from activities.forges.errors import ForgeRequestRejected
from activities.forges.model import (
    Applied,
    ForgeKind,
    PostedComment,
    PullRequest,
    PullRequestDraft,
    ReviewComment,
    ReviewThread,
)

_DUPLICATE = "DuplicatePullRequestException"


class BitbucketDataCenterForge(ForgeClient):
    """One repository of a Bitbucket Data Center project."""

    kind = ForgeKind.BITBUCKET_DATACENTER

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project_key, self.slug = self.location.segments
        self._base = f"projects/{segment(self.project_key)}/repos/{segment(self.slug)}"

    def _ref(self, branch: str) -> dict[str, Any]:
        return {
            "id": f"refs/heads/{branch}",
            "repository": {"slug": self.slug, "project": {"key": self.project_key}},
        }

    def _pr(self, item: dict[str, Any]) -> PullRequest:
        links = (item.get("links") or {}).get("self") or [{}]
        return PullRequest(
            number=int(item["id"]),
            url=str(links[0].get("href") or ""),
            title=str(item.get("title") or ""),
            body=str(item.get("description") or ""),
            head=str(item["fromRef"].get("displayId") or item["fromRef"]["id"]).removeprefix(
                "refs/heads/"
            ),
            base=str(item["toRef"].get("displayId") or item["toRef"]["id"]).removeprefix(
                "refs/heads/"
            ),
            draft=bool(item.get("draft")),
            reviewers=tuple(
                str((r.get("user") or {}).get("slug") or (r.get("user") or {}).get("name"))
                for r in item.get("reviewers") or ()
            ),
            version=int(item.get("version") or 0),
        )

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[Any]:
        start = 0
        for _ in range(self.http.config.max_pages):
            page = await self.http.json(
                "GET", path, params={**params, "limit": self.http.config.page_size, "start": start}
            )
            for item in (page or {}).get("values") or []:
                yield item
            if (page or {}).get("isLastPage", True) or page.get("nextPageStart") is None:
                return
            start = int(page["nextPageStart"])

    async def find_open_pull_request(
        self, head: str, base: str | None = None
    ) -> PullRequest | None:
        params = {"state": "OPEN", "direction": "OUTGOING", "at": f"refs/heads/{head}"}
        async for item in self._pages(f"{self._base}/pull-requests", params):
            pr = self._pr(item)
            if pr.head == head and (base is None or pr.base == base):
                return pr
        return None

    async def create_pull_request(self, draft: PullRequestDraft) -> tuple[PullRequest, bool]:
        body: dict[str, Any] = {
            "title": draft.title,
            "description": draft.body,
            "state": "OPEN",
            "open": True,
            "closed": False,
            "fromRef": self._ref(draft.head),
            "toRef": self._ref(draft.base),
        }
        if draft.draft:
            body["draft"] = True  # Bitbucket Data Center 8.18 and later
        try:
            item = await self.http.json("POST", f"{self._base}/pull-requests", json_body=body)
        except ForgeRequestRejected as err:
            if err.status == 409 and _DUPLICATE in str(err.body):
                for error in (err.body or {}).get("errors") or ():
                    if isinstance(error, dict) and error.get("existingPullRequest"):
                        return self._pr(error["existingPullRequest"]), False
                existing = await self.find_open_pull_request(draft.head, draft.base)
                if existing is not None:
                    return existing, False
            raise
        return self._pr(item), True

    async def update_pull_request(
        self, pr: PullRequest, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        changes = {k: v for k, v in (("title", title), ("description", body)) if v is not None}
        path = f"{self._base}/pull-requests/{pr.number}"
        version = pr.version or 0
        for attempt in (1, 2):
            try:
                item = await self.http.json("PUT", path, json_body={"version": version, **changes})
                return self._pr(item)
            except ForgeRequestRejected as err:
                if err.status != 409 or attempt == 2:
                    raise
                # someone else changed it since we read it: take their version and retry
                version = int((await self.http.json("GET", path)).get("version") or 0)
        raise AssertionError("unreachable")

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> Applied:
        return self.unsupported("labels") if labels else Applied()

    async def set_assignees(self, pr: PullRequest, assignees: Sequence[str]) -> Applied:
        return self.unsupported("assignees") if assignees else Applied()

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> Applied:
        applied = Applied()
        for reviewer in reviewers:
            if reviewer.lower() in (r.lower() for r in pr.reviewers):
                continue
            await self._soft(
                applied,
                f"add reviewer {reviewer}",
                lambda reviewer=reviewer: self.http.send(  # type: ignore[misc]
                    "POST",
                    f"{self._base}/pull-requests/{pr.number}/participants",
                    json_body={"user": {"name": reviewer}, "role": "REVIEWER"},
                ),
            )
        return applied

    def _posted(self, pr: PullRequest, item: dict[str, Any]) -> PostedComment:
        url = f"{pr.url}/overview?commentId={item['id']}" if pr.url else None
        return PostedComment(str(item["id"]), str(item.get("text") or ""), url)

    async def comment(self, pr: PullRequest, body: str) -> PostedComment:
        item = await self.http.json(
            "POST", f"{self._base}/pull-requests/{pr.number}/comments", json_body={"text": body}
        )
        return self._posted(pr, item)

    async def _root_comments(self, pr: PullRequest) -> AsyncIterator[dict[str, Any]]:
        path = f"{self._base}/pull-requests/{pr.number}/activities"
        async for activity in self._pages(path, {}):
            if activity.get("action") == "COMMENTED" and activity.get("commentAction") == "ADDED":
                comment = activity.get("comment")
                if comment:
                    yield {
                        **comment,
                        "commentAnchor": activity.get("commentAnchor") or comment.get("anchor"),
                    }

    async def find_comment(self, pr: PullRequest, marker: str) -> PostedComment | None:
        async for comment in self._root_comments(pr):
            if marker in (comment.get("text") or ""):
                return self._posted(pr, comment)
        return None

    async def unresolved_review_threads(self, pr: PullRequest) -> list[ReviewThread]:
        threads = []
        async for root in self._root_comments(pr):
            anchor = root.get("commentAnchor")
            if not anchor or root.get("threadResolved") or root.get("state") == "RESOLVED":
                continue
            chain: list[dict[str, Any]] = []
            pending = [root]
            while pending:  # replies nest under `comments`
                current = pending.pop(0)
                chain.append(current)
                pending.extend(current.get("comments") or ())
            threads.append(
                ReviewThread(
                    id=str(root["id"]),
                    comments=tuple(
                        ReviewComment(
                            id=str(c["id"]),
                            author=str(
                                (c.get("author") or {}).get("slug")
                                or (c.get("author") or {}).get("name")
                                or ""
                            ),
                            body=str(c.get("text") or ""),
                            created_at=str(c.get("createdDate")) if c.get("createdDate") else None,
                        )
                        for c in chain
                    ),
                    path=anchor.get("path"),
                    line=anchor.get("line"),
                    outdated=bool(anchor.get("orphaned")),
                    version=int(root.get("version") or 0),
                )
            )
        return threads

    async def reply_to_thread(
        self, pr: PullRequest, thread: ReviewThread, body: str
    ) -> PostedComment:
        item = await self.http.json(
            "POST",
            f"{self._base}/pull-requests/{pr.number}/comments",
            json_body={"text": body, "parent": {"id": int(thread.id)}},
        )
        return self._posted(pr, item)

    async def resolve_thread(self, pr: PullRequest, thread: ReviewThread) -> bool:
        path = f"{self._base}/pull-requests/{pr.number}/comments/{thread.id}"
        version = thread.version or 0
        for attempt in (1, 2):
            try:
                item = await self.http.json(
                    "PUT", path, json_body={"version": version, "state": "RESOLVED"}
                )
                return bool(item.get("threadResolved") or item.get("state") == "RESOLVED")
            except ForgeRequestRejected as err:
                if err.status != 409 or attempt == 2:
                    raise
                version = int((await self.http.json("GET", path)).get("version") or 0)
        raise AssertionError("unreachable")

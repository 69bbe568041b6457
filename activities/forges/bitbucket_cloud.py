"""Bitbucket Cloud pull requests over REST 2.0.

Pages follow the body's `next` link. Pull requests have no labels and no assignees; reviewers
are account ids or `{uuid}`s (Bitbucket Cloud no longer resolves user names). Review threads
are inline comments without a `resolution`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from activities.forges.base import ForgeClient, segment
from activities.forges.model import (
    Applied,
    ForgeKind,
    PostedComment,
    PullRequest,
    PullRequestDraft,
    ReviewComment,
    ReviewThread,
)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _reviewer(value: str) -> dict[str, str] | None:
    if value.startswith("{") and value.endswith("}"):
        return {"uuid": value}
    if ":" in value or (len(value) >= 20 and value.replace("-", "").isalnum()):
        return {"account_id": value}
    return None


class BitbucketCloudForge(ForgeClient):
    """One repository of a Bitbucket Cloud workspace."""

    kind = ForgeKind.BITBUCKET_CLOUD

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        workspace, repo = self.location.segments
        self._base = f"repositories/{segment(workspace)}/{segment(repo)}"

    def _pr(self, item: dict[str, Any]) -> PullRequest:
        return PullRequest(
            number=int(item["id"]),
            url=str(((item.get("links") or {}).get("html") or {}).get("href") or ""),
            title=str(item.get("title") or ""),
            body=str(item.get("description") or ""),
            head=str(item["source"]["branch"]["name"]),
            base=str(item["destination"]["branch"]["name"]),
            draft=bool(item.get("draft")),
            reviewers=tuple(
                str(r.get("account_id") or r.get("uuid")) for r in item.get("reviewers") or ()
            ),
        )

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[Any]:
        url: str | None = path
        query: dict[str, Any] | None = {**params, "pagelen": self.http.config.page_size}
        for _ in range(self.http.config.max_pages):
            if url is None:
                return
            page = await self.http.json("GET", url, params=query)
            for item in (page or {}).get("values") or []:
                yield item
            following = (page or {}).get("next")
            url = self.http.same_origin(following) if following else None
            query = None

    async def find_open_pull_request(
        self, head: str, base: str | None = None
    ) -> PullRequest | None:
        q = f"source.branch.name = {_quoted(head)}"
        async for item in self._pages(f"{self._base}/pullrequests", {"state": "OPEN", "q": q}):
            pr = self._pr(item)
            if pr.head == head and (base is None or pr.base == base):
                return pr
        return None

    async def create_pull_request(self, draft: PullRequestDraft) -> tuple[PullRequest, bool]:
        body: dict[str, Any] = {
            "title": draft.title,
            "description": draft.body,
            "source": {"branch": {"name": draft.head}},
            "destination": {"branch": {"name": draft.base}},
            "close_source_branch": False,
            "draft": draft.draft,
        }
        # Bitbucket Cloud answers a second create for the same branches with the existing one
        response = await self.http.send("POST", f"{self._base}/pullrequests", json_body=body)
        return self._pr(response.json()), response.status == 201

    async def update_pull_request(
        self, pr: PullRequest, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        changes = {k: v for k, v in (("title", title), ("description", body)) if v is not None}
        item = await self.http.json(
            "PUT", f"{self._base}/pullrequests/{pr.number}", json_body=changes
        )
        return self._pr(item)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> Applied:
        return self.unsupported("labels") if labels else Applied()

    async def set_assignees(self, pr: PullRequest, assignees: Sequence[str]) -> Applied:
        return self.unsupported("assignees") if assignees else Applied()

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> Applied:
        applied = Applied()
        wanted = []
        for value in reviewers:
            ref = _reviewer(value)
            if ref is None:
                applied.notes.append(
                    f"Bitbucket Cloud needs reviewer account ids or {{uuid}}s, not {value!r}"
                )
            else:
                wanted.append(ref)
        if not wanted:
            return applied
        current = await self.http.json("GET", f"{self._base}/pullrequests/{pr.number}")
        existing = [
            {"account_id": r["account_id"]} if r.get("account_id") else {"uuid": r["uuid"]}
            for r in current.get("reviewers") or ()
        ]
        merged = existing + [r for r in wanted if r not in existing]
        await self._soft(
            applied,
            f"request reviews from {', '.join(reviewers)}",
            lambda: self.http.send(
                "PUT",
                f"{self._base}/pullrequests/{pr.number}",
                json_body={"title": current.get("title", pr.title), "reviewers": merged},
            ),
        )
        return applied

    def _comment(self, item: dict[str, Any]) -> PostedComment:
        return PostedComment(
            str(item["id"]),
            str((item.get("content") or {}).get("raw") or ""),
            ((item.get("links") or {}).get("html") or {}).get("href"),
        )

    async def comment(self, pr: PullRequest, body: str) -> PostedComment:
        item = await self.http.json(
            "POST",
            f"{self._base}/pullrequests/{pr.number}/comments",
            json_body={"content": {"raw": body}},
        )
        return self._comment(item)

    async def find_comment(self, pr: PullRequest, marker: str) -> PostedComment | None:
        async for item in self._pages(f"{self._base}/pullrequests/{pr.number}/comments", {}):
            if not item.get("deleted") and marker in ((item.get("content") or {}).get("raw") or ""):
                return self._comment(item)
        return None

    async def unresolved_review_threads(self, pr: PullRequest) -> list[ReviewThread]:
        roots: dict[str, dict[str, Any]] = {}
        replies: dict[str, list[dict[str, Any]]] = {}
        async for item in self._pages(f"{self._base}/pullrequests/{pr.number}/comments", {}):
            if item.get("deleted"):
                continue
            parent = (item.get("parent") or {}).get("id")
            if parent is None:
                roots[str(item["id"])] = item
            else:
                replies.setdefault(str(parent), []).append(item)
        threads = []
        for cid, root in roots.items():
            if not root.get("inline") or root.get("resolution"):
                continue
            chain = [root, *sorted(replies.get(cid, []), key=lambda c: int(c["id"]))]
            inline = root["inline"]
            threads.append(
                ReviewThread(
                    id=cid,
                    comments=tuple(
                        ReviewComment(
                            id=str(c["id"]),
                            author=str((c.get("user") or {}).get("display_name") or ""),
                            body=str((c.get("content") or {}).get("raw") or ""),
                            url=((c.get("links") or {}).get("html") or {}).get("href"),
                            created_at=c.get("created_on"),
                        )
                        for c in chain
                    ),
                    path=inline.get("path"),
                    line=inline.get("to") or inline.get("from"),
                )
            )
        return threads

    async def reply_to_thread(
        self, pr: PullRequest, thread: ReviewThread, body: str
    ) -> PostedComment:
        item = await self.http.json(
            "POST",
            f"{self._base}/pullrequests/{pr.number}/comments",
            json_body={"content": {"raw": body}, "parent": {"id": int(thread.id)}},
        )
        return self._comment(item)

    async def resolve_thread(self, pr: PullRequest, thread: ReviewThread) -> bool:
        await self.http.send(
            "POST", f"{self._base}/pullrequests/{pr.number}/comments/{thread.id}/resolve"
        )
        return True

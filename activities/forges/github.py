"""GitHub and GitHub Enterprise Server: REST v3 for pull requests, labels, reviewers,
assignees and comments; GraphQL for review threads (only GraphQL knows `isResolved` and can
resolve a thread)."""

from __future__ import annotations

from collections.abc import Sequence
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

_THREADS = """
query($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 50, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        nodes {
          id isResolved isOutdated path line
          comments(first: 50) { nodes { databaseId body url createdAt author { login } } }
        }
      }
    }
  }
}
"""

_RESOLVE = """
mutation($id: ID!) { resolveReviewThread(input: {threadId: $id}) { thread { id isResolved } } }
"""


class GitHubForge(ForgeClient):
    """github.com (API at api.github.com) or an Enterprise server (API at /api/v3)."""

    kind = ForgeKind.GITHUB

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner, self.repo = self.location.segments
        self._base = f"repos/{segment(self.owner)}/{segment(self.repo)}"
        root = self.http.api_root
        # Enterprise serves GraphQL at /api/graphql, beside (not under) /api/v3
        self._graphql = (
            root.removesuffix("/v3") + "/graphql" if root.endswith("/api/v3") else root + "/graphql"
        )

    def _pr(self, item: dict[str, Any]) -> PullRequest:
        return PullRequest(
            number=int(item["number"]),
            url=str(item.get("html_url") or ""),
            title=str(item.get("title") or ""),
            body=str(item.get("body") or ""),
            head=str(item["head"]["ref"]),
            base=str(item["base"]["ref"]),
            draft=bool(item.get("draft")),
            labels=tuple(str(label["name"]) for label in item.get("labels") or ()),
            reviewers=tuple(str(u["login"]) for u in item.get("requested_reviewers") or ()),
            assignees=tuple(str(u["login"]) for u in item.get("assignees") or ()),
            node_id=item.get("node_id"),
        )

    async def _pages(self, path: str, params: dict[str, Any]) -> Any:
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": self.http.config.page_size}
        for _ in range(self.http.config.max_pages):
            if url is None:
                return
            response = await self.http.send("GET", url, params=query)
            for item in response.json() or []:
                yield item
            link = next_link(response.headers)
            url = self.http.same_origin(link) if link else None
            query = None  # the next link carries the query

    async def find_open_pull_request(
        self, head: str, base: str | None = None
    ) -> PullRequest | None:
        # filter by head only: a branch may have pull requests into several bases
        params: dict[str, Any] = {"state": "open", "head": f"{self.owner}:{head}"}
        async for item in self._pages(f"{self._base}/pulls", params):
            pr = self._pr(item)
            if pr.head == head and (base is None or pr.base == base):
                return pr
        return None

    async def create_pull_request(self, draft: PullRequestDraft) -> tuple[PullRequest, bool]:
        try:
            item = await self.http.json(
                "POST",
                f"{self._base}/pulls",
                json_body={
                    "title": draft.title,
                    "body": draft.body,
                    "head": draft.head,
                    "base": draft.base,
                    "draft": draft.draft,
                },
            )
        except ForgeRequestRejected as err:
            if err.status == 422 and "already exists" in err.provider_message.lower():
                existing = await self.find_open_pull_request(draft.head, draft.base)
                if existing is not None:
                    return existing, False
            raise
        return self._pr(item), True

    async def update_pull_request(
        self, pr: PullRequest, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        changes = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
        item = await self.http.json("PATCH", f"{self._base}/pulls/{pr.number}", json_body=changes)
        return self._pr(item)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> Applied:
        applied = Applied()
        if labels:
            await self._soft(
                applied,
                f"add labels {', '.join(labels)}",
                lambda: self.http.send(
                    "POST",
                    f"{self._base}/issues/{pr.number}/labels",
                    json_body={"labels": list(labels)},
                ),
            )
        return applied

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> Applied:
        applied = Applied()
        # "org/team" names a team; anything else is a user login
        teams = [r.split("/", 1)[1] for r in reviewers if "/" in r]
        users = [r for r in reviewers if "/" not in r]
        if users or teams:
            await self._soft(
                applied,
                f"request reviews from {', '.join(reviewers)}",
                lambda: self.http.send(
                    "POST",
                    f"{self._base}/pulls/{pr.number}/requested_reviewers",
                    json_body={"reviewers": users, "team_reviewers": teams},
                ),
            )
        return applied

    async def set_assignees(self, pr: PullRequest, assignees: Sequence[str]) -> Applied:
        applied = Applied()
        if not assignees:
            return applied
        item = await self._soft(
            applied,
            f"assign {', '.join(assignees)}",
            lambda: self.http.json(
                "POST",
                f"{self._base}/issues/{pr.number}/assignees",
                json_body={"assignees": list(assignees)},
            ),
        )
        if item is not None:
            # GitHub silently drops people who cannot be assigned
            got = {str(u["login"]).lower() for u in item.get("assignees") or ()}
            missing = [a for a in assignees if a.lower() not in got]
            if missing:
                applied.notes.append(
                    f"GitHub did not assign {', '.join(missing)} (not collaborators?)"
                )
        return applied

    async def comment(self, pr: PullRequest, body: str) -> PostedComment:
        item = await self.http.json(
            "POST", f"{self._base}/issues/{pr.number}/comments", json_body={"body": body}
        )
        return PostedComment(
            id=str(item["id"]), body=str(item.get("body") or body), url=item.get("html_url")
        )

    async def find_comment(self, pr: PullRequest, marker: str) -> PostedComment | None:
        async for item in self._pages(f"{self._base}/issues/{pr.number}/comments", {}):
            if marker in (item.get("body") or ""):
                return PostedComment(str(item["id"]), str(item["body"]), item.get("html_url"))
        return None

    async def _graph(self, query: str, variables: dict[str, Any]) -> Any:
        result = await self.http.json(
            "POST", self._graphql, json_body={"query": query, "variables": variables}
        )
        errors = (result or {}).get("errors")
        if errors:
            text = "; ".join(str(e.get("message", e)) for e in errors)[:300]
            raise ForgeRequestRejected(
                f"GitHub GraphQL refused the request: {self.http.redact(text)}",
                status=200,
                provider_message=self.http.redact(text),
            )
        return result.get("data") or {}

    async def unresolved_review_threads(self, pr: PullRequest) -> list[ReviewThread]:
        threads: list[ReviewThread] = []
        cursor: str | None = None
        for _ in range(self.http.config.max_pages):
            data = await self._graph(
                _THREADS,
                {"owner": self.owner, "name": self.repo, "number": pr.number, "cursor": cursor},
            )
            page = data["repository"]["pullRequest"]["reviewThreads"]
            for node in page["nodes"]:
                if node.get("isResolved"):
                    continue
                comments = tuple(
                    ReviewComment(
                        id=str(c["databaseId"]),
                        author=str((c.get("author") or {}).get("login") or "ghost"),
                        body=str(c.get("body") or ""),
                        url=c.get("url"),
                        created_at=c.get("createdAt"),
                    )
                    for c in node["comments"]["nodes"]
                )
                if comments:
                    threads.append(
                        ReviewThread(
                            id=str(node["id"]),
                            comments=comments,
                            path=node.get("path"),
                            line=node.get("line"),
                            outdated=bool(node.get("isOutdated")),
                        )
                    )
            if not page["pageInfo"]["hasNextPage"]:
                break
            cursor = page["pageInfo"]["endCursor"]
        return threads

    async def reply_to_thread(
        self, pr: PullRequest, thread: ReviewThread, body: str
    ) -> PostedComment:
        first = thread.comments[0].id
        item = await self.http.json(
            "POST",
            f"{self._base}/pulls/{pr.number}/comments/{first}/replies",
            json_body={"body": body},
        )
        return PostedComment(str(item["id"]), str(item.get("body") or body), item.get("html_url"))

    async def resolve_thread(self, pr: PullRequest, thread: ReviewThread) -> bool:
        data = await self._graph(_RESOLVE, {"id": thread.id})
        return bool(data["resolveReviewThread"]["thread"]["isResolved"])

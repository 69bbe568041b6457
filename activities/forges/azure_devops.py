"""Azure DevOps (Services and Server) pull requests over the Git REST API, api-version 7.1.

The pull request list pages with `$top`/`$skip` (the reference documents no continuation
token for it). Reviewers are identity ids (GUIDs); there are no assignees.
Review threads are active or pending threads; a reply is a comment in the thread, resolving
sets the thread's status to `fixed`.
"""

from __future__ import annotations

import re
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

API_VERSION = "7.1"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_OPEN_THREADS = ("active", "pending")


class AzureDevOpsForge(ForgeClient):
    """One Git repository of an Azure DevOps project."""

    kind = ForgeKind.AZURE_DEVOPS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        segments = self.location.segments
        prefix = "/".join(segment(s) for s in segments[:-2])
        project, repo = segments[-2], segments[-1]
        self._base = (
            f"{prefix}/" if prefix else ""
        ) + f"{segment(project)}/_apis/git/repositories/{segment(repo)}"
        web_prefix = "/".join(segments[:-2])
        self._web = (
            f"{self.location.web_root}/"
            + (f"{web_prefix}/" if web_prefix else "")
            + f"{project}/_git/{repo}"
        )

    def _params(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"api-version": API_VERSION, **(extra or {})}

    def _pr(self, item: dict[str, Any]) -> PullRequest:
        number = int(item["pullRequestId"])
        web = ((item.get("repository") or {}).get("webUrl") or self._web).rstrip("/")
        return PullRequest(
            number=number,
            url=f"{web}/pullrequest/{number}",
            title=str(item.get("title") or ""),
            body=str(item.get("description") or ""),
            head=str(item["sourceRefName"]).removeprefix("refs/heads/"),
            base=str(item["targetRefName"]).removeprefix("refs/heads/"),
            draft=bool(item.get("isDraft")),
            labels=tuple(str(t["name"]) for t in item.get("labels") or () if t.get("active", True)),
            reviewers=tuple(str(r.get("id")) for r in item.get("reviewers") or ()),
        )

    async def find_open_pull_request(
        self, head: str, base: str | None = None
    ) -> PullRequest | None:
        criteria: dict[str, Any] = {
            "searchCriteria.status": "active",
            "searchCriteria.sourceRefName": f"refs/heads/{head}",
        }
        top = self.http.config.page_size
        skip = 0
        for _ in range(self.http.config.max_pages):
            page = await self.http.json(
                "GET",
                f"{self._base}/pullrequests",
                params=self._params({**criteria, "$top": top, "$skip": skip}),
            )
            items = (page or {}).get("value") or []
            for item in items:
                pr = self._pr(item)
                if pr.head == head and (base is None or pr.base == base):
                    return pr
            if len(items) < top:
                return None
            skip += len(items)
        return None

    async def create_pull_request(self, draft: PullRequestDraft) -> tuple[PullRequest, bool]:
        try:
            item = await self.http.json(
                "POST",
                f"{self._base}/pullrequests?api-version={API_VERSION}",
                json_body={
                    "sourceRefName": f"refs/heads/{draft.head}",
                    "targetRefName": f"refs/heads/{draft.base}",
                    "title": draft.title,
                    "description": draft.body,
                    "isDraft": draft.draft,
                },
            )
        except ForgeRequestRejected as err:
            # TF401179: an active pull request for the source and target branch already exists
            if err.status == 409 and "TF401179" in err.provider_message:
                existing = await self.find_open_pull_request(draft.head, draft.base)
                if existing is not None:
                    return existing, False
            raise
        return self._pr(item), True

    async def update_pull_request(
        self, pr: PullRequest, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        changes = {k: v for k, v in (("title", title), ("description", body)) if v is not None}
        item = await self.http.json(
            "PATCH",
            f"{self._base}/pullrequests/{pr.number}?api-version={API_VERSION}",
            json_body=changes,
        )
        return self._pr(item)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> Applied:
        applied = Applied()
        for label in labels:
            await self._soft(
                applied,
                f"add label {label}",
                lambda label=label: self.http.send(  # type: ignore[misc]
                    "POST",
                    f"{self._base}/pullRequests/{pr.number}/labels?api-version={API_VERSION}",
                    json_body={"name": label},
                ),
            )
        return applied

    async def set_assignees(self, pr: PullRequest, assignees: Sequence[str]) -> Applied:
        return self.unsupported("assignees") if assignees else Applied()

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> Applied:
        applied = Applied()
        for reviewer in reviewers:
            if not _GUID.match(reviewer):
                applied.notes.append(
                    f"Azure DevOps needs reviewer identity ids (GUIDs), not {reviewer!r}; skipped"
                )
                continue
            await self._soft(
                applied,
                f"add reviewer {reviewer}",
                lambda reviewer=reviewer: self.http.send(  # type: ignore[misc]
                    "PUT",
                    f"{self._base}/pullRequests/{pr.number}/reviewers/{reviewer}"
                    f"?api-version={API_VERSION}",
                    json_body={"vote": 0, "isRequired": False},
                ),
            )
        return applied

    def _posted(
        self, pr: PullRequest, thread: dict[str, Any], comment: dict[str, Any]
    ) -> PostedComment:
        return PostedComment(
            str(thread["id"]),
            str(comment.get("content") or ""),
            f"{pr.url}?discussionId={thread['id']}" if pr.url else None,
        )

    async def comment(self, pr: PullRequest, body: str) -> PostedComment:
        thread = await self.http.json(
            "POST",
            f"{self._base}/pullRequests/{pr.number}/threads?api-version={API_VERSION}",
            # closed: a note about the change must not block completion like an open question
            json_body={
                "comments": [{"parentCommentId": 0, "content": body, "commentType": 1}],
                "status": "closed",
            },
        )
        return self._posted(pr, thread, (thread.get("comments") or [{"content": body}])[0])

    async def _threads(self, pr: PullRequest) -> AsyncIterator[dict[str, Any]]:
        page = await self.http.json(
            "GET", f"{self._base}/pullRequests/{pr.number}/threads", params=self._params()
        )
        for thread in (page or {}).get("value") or []:
            if not thread.get("isDeleted"):
                yield thread

    async def find_comment(self, pr: PullRequest, marker: str) -> PostedComment | None:
        async for thread in self._threads(pr):
            for comment in thread.get("comments") or ():
                if marker in (comment.get("content") or ""):
                    return self._posted(pr, thread, comment)
        return None

    async def unresolved_review_threads(self, pr: PullRequest) -> list[ReviewThread]:
        threads = []
        async for thread in self._threads(pr):
            if str(thread.get("status", "")).lower() not in _OPEN_THREADS:
                continue
            comments = [
                c
                for c in thread.get("comments") or ()
                if str(c.get("commentType", "text")).lower() in ("text", "1")
                and not c.get("isDeleted")
            ]
            if not comments:
                continue
            context = thread.get("threadContext") or {}
            start = context.get("rightFileStart") or context.get("leftFileStart") or {}
            threads.append(
                ReviewThread(
                    id=str(thread["id"]),
                    comments=tuple(
                        ReviewComment(
                            id=str(c["id"]),
                            author=str(
                                (c.get("author") or {}).get("uniqueName")
                                or (c.get("author") or {}).get("displayName")
                                or ""
                            ),
                            body=str(c.get("content") or ""),
                            created_at=c.get("publishedDate"),
                        )
                        for c in comments
                    ),
                    path=context.get("filePath"),
                    line=start.get("line"),
                )
            )
        return threads

    async def reply_to_thread(
        self, pr: PullRequest, thread: ReviewThread, body: str
    ) -> PostedComment:
        item = await self.http.json(
            "POST",
            f"{self._base}/pullRequests/{pr.number}/threads/{thread.id}/comments"
            f"?api-version={API_VERSION}",
            json_body={
                "content": body,
                "parentCommentId": int(thread.comments[0].id),
                "commentType": 1,
            },
        )
        return PostedComment(
            str(item["id"]),
            str(item.get("content") or body),
            f"{pr.url}?discussionId={thread.id}" if pr.url else None,
        )

    async def resolve_thread(self, pr: PullRequest, thread: ReviewThread) -> bool:
        item = await self.http.json(
            "PATCH",
            f"{self._base}/pullRequests/{pr.number}/threads/{thread.id}?api-version={API_VERSION}",
            json_body={"status": "fixed"},
        )
        return str((item or {}).get("status", "")).lower() == "fixed"

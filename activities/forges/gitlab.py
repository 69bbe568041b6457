"""GitLab (gitlab.com and self-managed) merge requests over REST v4.

A draft is a title starting with `Draft: `; reviewers and assignees are user ids, looked up
by username; review threads are resolvable discussions.
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

DRAFT_PREFIX = "Draft: "
_DRAFT_PREFIXES = ("draft:", "[draft]", "(draft)", "wip:", "[wip]")


def is_draft_title(title: str) -> bool:
    return title.strip().lower().startswith(_DRAFT_PREFIXES)


class GitLabForge(ForgeClient):
    """One GitLab project, addressed by its url-encoded full path."""

    kind = ForgeKind.GITLAB

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._base = f"projects/{segment(self.location.project)}"

    def _pr(self, item: dict[str, Any]) -> PullRequest:
        title = str(item.get("title") or "")
        draft = bool(item.get("draft", item.get("work_in_progress", is_draft_title(title))))
        return PullRequest(
            number=int(item["iid"]),
            url=str(item.get("web_url") or ""),
            title=title,
            body=str(item.get("description") or ""),
            head=str(item["source_branch"]),
            base=str(item["target_branch"]),
            draft=draft,
            labels=tuple(
                str(label["name"] if isinstance(label, dict) else label)
                for label in item.get("labels") or ()
            ),
            reviewers=tuple(str(u["username"]) for u in item.get("reviewers") or ()),
            assignees=tuple(str(u["username"]) for u in item.get("assignees") or ()),
        )

    async def _pages(self, path: str, params: dict[str, Any]) -> AsyncIterator[Any]:
        query = {**params, "per_page": self.http.config.page_size, "page": 1}
        for _ in range(self.http.config.max_pages):
            response = await self.http.send("GET", path, params=query)
            for item in response.json() or []:
                yield item
            following = response.headers.get("x-next-page", "").strip()
            if following.isdigit():
                query = {**query, "page": int(following)}
                continue
            link = next_link(response.headers)
            if not link:
                return
            path, query = self.http.same_origin(link), {}

    async def find_open_pull_request(
        self, head: str, base: str | None = None
    ) -> PullRequest | None:
        params: dict[str, Any] = {"state": "opened", "source_branch": head}
        async for item in self._pages(f"{self._base}/merge_requests", params):
            pr = self._pr(item)
            if pr.head == head and (base is None or pr.base == base):
                return pr
        return None

    async def _user_ids(self, names: Sequence[str], applied: Applied) -> list[int]:
        ids = []
        for name in names:
            found = await self.http.json("GET", "users", params={"username": name})
            match = [u for u in found or [] if str(u.get("username", "")).lower() == name.lower()]
            if match:
                ids.append(int(match[0]["id"]))
            else:
                applied.notes.append(f"GitLab has no user {name!r}; skipped")
        return ids

    async def create_pull_request(self, draft: PullRequestDraft) -> tuple[PullRequest, bool]:
        title = draft.title
        if draft.draft and not is_draft_title(title):
            title = DRAFT_PREFIX + title
        body: dict[str, Any] = {
            "source_branch": draft.head,
            "target_branch": draft.base,
            "title": title[: self.limits.title],
            "description": draft.body,
        }
        try:
            item = await self.http.json("POST", f"{self._base}/merge_requests", json_body=body)
        except ForgeRequestRejected as err:
            if err.status == 409 and "already exists" in err.provider_message.lower():
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
            # a draft stays a draft: the prefix is the draft flag
            changes["title"] = (
                DRAFT_PREFIX + title if pr.draft and not is_draft_title(title) else title
            )
        if body is not None:
            changes["description"] = body
        item = await self.http.json(
            "PUT", f"{self._base}/merge_requests/{pr.number}", json_body=changes
        )
        return self._pr(item)

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> Applied:
        applied = Applied()
        if labels:
            await self._soft(
                applied,
                f"add labels {', '.join(labels)}",
                lambda: self.http.send(
                    "PUT",
                    f"{self._base}/merge_requests/{pr.number}",
                    json_body={"add_labels": ",".join(labels)},
                ),
            )
        return applied

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> Applied:
        applied = Applied()
        ids = await self._user_ids(reviewers, applied)
        if ids:
            current = await self.http.json("GET", f"{self._base}/merge_requests/{pr.number}")
            existing = [int(u["id"]) for u in current.get("reviewers") or ()]
            await self._soft(
                applied,
                f"request reviews from {', '.join(reviewers)}",
                lambda: self.http.send(
                    "PUT",
                    f"{self._base}/merge_requests/{pr.number}",
                    json_body={"reviewer_ids": list(dict.fromkeys([*existing, *ids]))},
                ),
            )
        return applied

    async def set_assignees(self, pr: PullRequest, assignees: Sequence[str]) -> Applied:
        applied = Applied()
        ids = await self._user_ids(assignees, applied)
        if ids:
            await self._soft(
                applied,
                f"assign {', '.join(assignees)}",
                lambda: self.http.send(
                    "PUT",
                    f"{self._base}/merge_requests/{pr.number}",
                    json_body={"assignee_ids": ids},
                ),
            )
        return applied

    def _note_url(self, pr: PullRequest, note_id: object) -> str | None:
        return f"{pr.url}#note_{note_id}" if pr.url else None

    async def comment(self, pr: PullRequest, body: str) -> PostedComment:
        item = await self.http.json(
            "POST", f"{self._base}/merge_requests/{pr.number}/notes", json_body={"body": body}
        )
        return PostedComment(
            str(item["id"]), str(item.get("body") or body), self._note_url(pr, item["id"])
        )

    async def find_comment(self, pr: PullRequest, marker: str) -> PostedComment | None:
        async for item in self._pages(f"{self._base}/merge_requests/{pr.number}/notes", {}):
            if marker in (item.get("body") or ""):
                return PostedComment(
                    str(item["id"]), str(item["body"]), self._note_url(pr, item["id"])
                )
        return None

    async def unresolved_review_threads(self, pr: PullRequest) -> list[ReviewThread]:
        threads = []
        path = f"{self._base}/merge_requests/{pr.number}/discussions"
        async for item in self._pages(path, {}):
            notes = [n for n in item.get("notes") or () if not n.get("system")]
            resolvable = [n for n in notes if n.get("resolvable")]
            if not resolvable or all(n.get("resolved") for n in resolvable):
                continue
            position = notes[0].get("position") or {}
            threads.append(
                ReviewThread(
                    id=str(item["id"]),
                    comments=tuple(
                        ReviewComment(
                            id=str(n["id"]),
                            author=str((n.get("author") or {}).get("username") or ""),
                            body=str(n.get("body") or ""),
                            url=self._note_url(pr, n["id"]),
                            created_at=n.get("created_at"),
                        )
                        for n in notes
                    ),
                    path=position.get("new_path") or position.get("old_path"),
                    line=position.get("new_line") or position.get("old_line"),
                )
            )
        return threads

    async def reply_to_thread(
        self, pr: PullRequest, thread: ReviewThread, body: str
    ) -> PostedComment:
        item = await self.http.json(
            "POST",
            f"{self._base}/merge_requests/{pr.number}/discussions/{segment(thread.id)}/notes",
            json_body={"body": body},
        )
        return PostedComment(
            str(item["id"]), str(item.get("body") or body), self._note_url(pr, item["id"])
        )

    async def resolve_thread(self, pr: PullRequest, thread: ReviewThread) -> bool:
        item = await self.http.json(
            "PUT",
            f"{self._base}/merge_requests/{pr.number}/discussions/{segment(thread.id)}",
            json_body={"resolved": True},
        )
        notes = [n for n in (item or {}).get("notes") or () if n.get("resolvable")]
        return bool(notes) and all(n.get("resolved") for n in notes)

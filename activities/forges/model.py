"""The forge interface: what builder needs from a hosting provider's pull request API.

One implementation per provider (GitHub, GitLab, Gitea/Forgejo, Bitbucket Cloud, Bitbucket
Data Center, Azure DevOps) speaks that provider's REST API; delivery code only sees this
Protocol and the plain value types below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from domain.enums import GitProvider


class ForgeKind(StrEnum):
    """A pull request API dialect. Bitbucket Cloud and Data Center share a GitProvider but
    not an API."""

    GITHUB = "github"
    GITLAB = "gitlab"
    GITEA = "gitea"
    BITBUCKET_CLOUD = "bitbucket_cloud"
    BITBUCKET_DATACENTER = "bitbucket_datacenter"
    AZURE_DEVOPS = "azure_devops"

    @property
    def provider(self) -> GitProvider:
        return _PROVIDERS[self]

    @property
    def display_name(self) -> str:
        return _NAMES[self]


_PROVIDERS = {
    ForgeKind.GITHUB: GitProvider.GITHUB,
    ForgeKind.GITLAB: GitProvider.GITLAB,
    ForgeKind.GITEA: GitProvider.GITEA,
    ForgeKind.BITBUCKET_CLOUD: GitProvider.BITBUCKET,
    ForgeKind.BITBUCKET_DATACENTER: GitProvider.BITBUCKET,
    ForgeKind.AZURE_DEVOPS: GitProvider.AZURE_DEVOPS,
}

_NAMES = {
    ForgeKind.GITHUB: "GitHub",
    ForgeKind.GITLAB: "GitLab",
    ForgeKind.GITEA: "Gitea",
    ForgeKind.BITBUCKET_CLOUD: "Bitbucket Cloud",
    ForgeKind.BITBUCKET_DATACENTER: "Bitbucket Data Center",
    ForgeKind.AZURE_DEVOPS: "Azure DevOps",
}


@dataclass(frozen=True)
class TextLimits:
    """How long a title and a body may be on one provider (in characters)."""

    title: int
    body: int


@dataclass(frozen=True)
class PullRequest:
    """An open pull (merge) request as the forge reports it."""

    number: int
    url: str
    title: str
    body: str
    head: str
    base: str
    draft: bool = False
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    # what some APIs need to address or update it: Bitbucket DC's version, GitHub's node id
    version: int | None = None
    node_id: str | None = None


@dataclass(frozen=True)
class PullRequestDraft:
    """What to open: title and body are final (already rendered and bounded). Labels,
    reviewers and assignees are added after creation, so a name the forge refuses never
    stops the pull request from opening."""

    title: str
    body: str
    head: str
    base: str
    draft: bool = False


@dataclass(frozen=True)
class ReviewComment:
    """One comment of a review thread."""

    id: str
    author: str
    body: str
    url: str | None = None
    created_at: str | None = None


@dataclass(frozen=True)
class ReviewThread:
    """An unresolved review discussion: where it points and what was said, oldest first."""

    id: str
    comments: tuple[ReviewComment, ...]
    path: str | None = None
    line: int | None = None
    outdated: bool = False
    # what some APIs need to resolve it (Bitbucket DC's comment version)
    version: int | None = None


@dataclass(frozen=True)
class PostedComment:
    """A comment builder wrote (or found it had written before)."""

    id: str
    body: str
    url: str | None = None


@dataclass
class Applied:
    """What a labels/reviewers/assignees call did not do, in words for the execution's log."""

    notes: list[str] = field(default_factory=list)


class Forge(Protocol):
    """A repository's pull request API on one provider."""

    kind: ForgeKind
    limits: TextLimits

    async def find_open_pull_request(
        self, head: str, base: str | None = None
    ) -> PullRequest | None:
        """The open pull request from `head` (into `base` when given), following every page."""
        ...

    async def create_pull_request(self, draft: PullRequestDraft) -> tuple[PullRequest, bool]:
        """Open a pull request; when the forge says one already exists, return that one.
        True when this call created it."""
        ...

    async def update_pull_request(
        self, pr: PullRequest, *, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        """Change title and/or body, keeping the draft state as it is."""
        ...

    async def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> Applied: ...

    async def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> Applied: ...

    async def set_assignees(self, pr: PullRequest, assignees: Sequence[str]) -> Applied: ...

    async def comment(self, pr: PullRequest, body: str) -> PostedComment:
        """Add a general (not inline) comment."""
        ...

    async def find_comment(self, pr: PullRequest, marker: str) -> PostedComment | None:
        """The first general comment whose body contains `marker` (every page)."""
        ...

    async def unresolved_review_threads(self, pr: PullRequest) -> list[ReviewThread]:
        """Review discussions nobody resolved yet, every page."""
        ...

    async def reply_to_thread(
        self, pr: PullRequest, thread: ReviewThread, body: str
    ) -> PostedComment: ...

    async def resolve_thread(self, pr: PullRequest, thread: ReviewThread) -> bool:
        """Mark the thread resolved; False when this provider's API cannot."""
        ...

    async def aclose(self) -> None: ...

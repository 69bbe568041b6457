"""Pull requests on every forge: one client per provider behind the `Forge` Protocol, the
pure renderers of what builder writes there, and idempotent delivery."""

from activities.forges.body import (
    FileLine,
    FollowUpContent,
    PullRequestContent,
    StepLine,
    TestSummary,
    find_marker,
    marker,
    render_body,
    render_follow_up,
    render_title,
)
from activities.forges.delivery import (
    DeliveryOutcome,
    answer_thread,
    ensure_pull_request,
    post_follow_up,
)
from activities.forges.errors import (
    ForgeAuthFailed,
    ForgeNotConfigured,
    ForgeNotFound,
    ForgeRateLimited,
    ForgeRequestRejected,
    ForgeUnavailable,
)
from activities.forges.factory import forge_for_location, open_forge
from activities.forges.http import ForgeHttpConfig
from activities.forges.location import ForgeLocation, resolve_location
from activities.forges.model import (
    Forge,
    ForgeKind,
    PostedComment,
    PullRequest,
    PullRequestDraft,
    ReviewComment,
    ReviewThread,
)

__all__ = [
    "DeliveryOutcome",
    "FileLine",
    "FollowUpContent",
    "Forge",
    "ForgeAuthFailed",
    "ForgeHttpConfig",
    "ForgeKind",
    "ForgeLocation",
    "ForgeNotConfigured",
    "ForgeNotFound",
    "ForgeRateLimited",
    "ForgeRequestRejected",
    "ForgeUnavailable",
    "PostedComment",
    "PullRequest",
    "PullRequestContent",
    "PullRequestDraft",
    "ReviewComment",
    "ReviewThread",
    "StepLine",
    "TestSummary",
    "answer_thread",
    "ensure_pull_request",
    "find_marker",
    "forge_for_location",
    "marker",
    "open_forge",
    "post_follow_up",
    "render_body",
    "render_follow_up",
    "render_title",
    "resolve_location",
]

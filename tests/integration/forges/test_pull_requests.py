"""Pull request delivery against a local server speaking each forge's REST API.

Every test runs once per provider: GitHub (Enterprise layout), GitLab, Gitea/Forgejo,
Bitbucket Cloud, Bitbucket Data Center and Azure DevOps.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from activities.forges import (
    FileLine,
    ForgeAuthFailed,
    ForgeKind,
    ForgeRateLimited,
    PullRequestContent,
    StepLine,
    TestSummary,
    ensure_pull_request,
    find_marker,
    marker,
)
from activities.forges.auth import SCOPES
from activities.forges.body import FollowUpContent
from activities.forges.delivery import answer_thread, post_follow_up
from activities.runtime import application_error
from domain.enums import ErrorCode
from domain.pull_requests import PullRequestMode, PullRequestSettings
from tests.fixtures.forges.base import FakeForge, FakePR
from tests.integration.forges.conftest import TOKEN, ForgeCase, OpenForge

BRANCH = "builder/add-greeting"
EXECUTION = "0192f7d2-5c3a-7b4e-9a10-3f2d1c0b9a87"


def content(description: str = "Adds hello.txt so newcomers are greeted.") -> PullRequestContent:
    return PullRequestContent(
        execution_id=EXECUTION,
        title="Add a greeting",
        description=description,
        branch=BRANCH,
        base="main",
        plan_summary="Write hello.txt and test it.",
        steps=[StepLine(0, "Create hello.txt", commit_sha="a1b2c3d4e5f6a7b8")],
        files=[FileLine("hello.txt", "created", 1, 0)],
        tests=TestSummary(passed=3, failed=0, skipped=1, duration_s=1.5),
        execution_url=f"https://builder.example.com/v1/executions/{EXECUTION}",
    )


def settings(case: ForgeCase, **overrides: object) -> PullRequestSettings:
    values: dict[str, object] = {
        "mode": PullRequestMode.DRAFT,
        "labels": ("builder", "automated"),
        "reviewers": (case.reviewer,),
        "assignees": ("alice",),
        **overrides,
    }
    return PullRequestSettings.model_validate(values)


def is_draft(case: ForgeCase, pr: FakePR) -> bool:
    # GitLab and Gitea mark drafts in the title; the others have a flag
    if case.kind == ForgeKind.GITLAB:
        return pr.title.startswith("Draft: ")
    if case.kind == ForgeKind.GITEA:
        return pr.title.startswith("WIP: ")
    return pr.draft


async def deliver(forge: object, case: ForgeCase, **kw: object):  # type: ignore[no-untyped-def]
    return await ensure_pull_request(
        forge,  # type: ignore[arg-type]
        execution_id=EXECUTION,
        head=BRANCH,
        base="main",
        title="Add a greeting",
        content=kw.pop("body", content()),  # type: ignore[arg-type]
        settings=kw.pop("settings", settings(case)),  # type: ignore[arg-type]
    )


async def test_opens_a_draft_pull_request_with_title_body_labels_reviewers_and_assignees(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    outcome = await deliver(await connect(), case)

    assert outcome.created and not outcome.updated and not outcome.adopted
    [pr] = fake.open_pulls()
    assert (pr.head, pr.base) == (BRANCH, "main")
    assert pr.title.removeprefix("Draft: ").removeprefix("WIP: ") == "Add a greeting"
    assert is_draft(case, pr)
    assert find_marker(pr.body) == EXECUTION
    assert marker(case.kind, EXECUTION) in pr.body
    assert "Write hello.txt and test it." in pr.body and "hello.txt" in pr.body
    assert "3 passed, 0 failed, 1 skipped" in pr.body
    assert outcome.pull_request.number == pr.number and outcome.pull_request.url
    notes = " ".join(outcome.notes)
    if case.labels:
        assert sorted(pr.labels) == ["automated", "builder"]
    else:
        assert pr.labels == [] and "labels" in notes
    assert pr.reviewers == [case.reviewer]
    if case.assignees:
        assert pr.assignees == ["alice"]
    else:
        assert "assignees" in notes


async def test_ready_mode_opens_a_pull_request_that_is_not_a_draft(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    await deliver(await connect(), case, settings=settings(case, mode=PullRequestMode.READY))

    [pr] = fake.open_pulls()
    assert not is_draft(case, pr) and pr.title == "Add a greeting"


async def test_second_delivery_finds_the_open_pull_request_and_creates_nothing(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    forge = await connect()
    first = await deliver(forge, case)
    creates_before = len([r for r in fake.requests if r.method == "POST"])

    second = await deliver(forge, case)

    assert first.created and not second.created and not second.updated
    assert second.pull_request.number == first.pull_request.number
    assert len(fake.open_pulls()) == 1
    # nothing was written: no create, no label, no comment
    assert len([r for r in fake.requests if r.method == "POST"]) == creates_before


async def test_retried_delivery_rewrites_the_body_of_its_own_pull_request(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    forge = await connect()
    await deliver(forge, case)

    again = await deliver(forge, case, body=content("A better description of the change."))

    [pr] = fake.open_pulls()
    assert again.updated and not again.created
    assert "A better description of the change." in pr.body
    assert is_draft(case, pr)  # an update never flips the draft state


async def test_pull_request_someone_else_opened_is_adopted_not_rewritten(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    theirs = fake.seed_pull_request(BRANCH, title="My own PR", body="Written by a person.")

    outcome = await deliver(await connect(), case)

    assert outcome.adopted and not outcome.created and not outcome.updated
    assert outcome.pull_request.number == theirs.number
    assert (theirs.title, theirs.body) == ("My own PR", "Written by a person.")
    assert len(fake.open_pulls()) == 1


async def test_pull_request_opened_between_lookup_and_create_is_returned_not_duplicated(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    raced = fake.seed_pull_request(BRANCH, title="Opened meanwhile", race=True)

    outcome = await deliver(await connect(), case)

    assert not outcome.created
    assert outcome.pull_request.number == raced.number
    assert len(fake.open_pulls()) == 1


async def test_pull_request_into_the_base_is_found_on_a_later_page(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    for n in (1, 2, 3):
        fake.seed_pull_request(BRANCH, f"release-{n}", title=f"Backport {n}")
    target = fake.seed_pull_request(BRANCH, "main", body=marker(case.kind, EXECUTION))
    list_path = {
        ForgeKind.GITHUB: "/pulls",
        ForgeKind.GITLAB: "/merge_requests",
        ForgeKind.GITEA: "/pulls",
        ForgeKind.BITBUCKET_CLOUD: "/pullrequests",
        ForgeKind.BITBUCKET_DATACENTER: "/pull-requests",
        ForgeKind.AZURE_DEVOPS: "/pullrequests",
    }[case.kind]

    found = await (await connect()).find_open_pull_request(BRANCH, "main")

    assert found is not None and found.number == target.number
    assert len(fake.calls("GET", list_path)) >= 2


async def test_rate_limit_surfaces_the_servers_retry_after_delay(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    forge = await connect()
    fake.rate_limit_next(retry_after=7)

    with pytest.raises(ForgeRateLimited) as caught:
        await deliver(forge, case)

    err = caught.value
    assert err.retryable and err.retry_after_seconds == 7
    assert case.kind.display_name in err.message
    temporal = application_error(err)
    assert not temporal.non_retryable
    assert temporal.next_retry_delay == timedelta(seconds=7)
    # once the limit lifts, the same delivery goes through
    assert (await deliver(forge, case)).created


async def test_rejected_credential_is_a_repository_access_error_naming_provider_and_scope(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    forge = await connect()
    fake.reject_credentials()

    with pytest.raises(ForgeAuthFailed) as caught:
        await deliver(forge, case)

    err = caught.value
    assert err.code == ErrorCode.REPOSITORY_ACCESS and not err.retryable
    assert case.kind.display_name in err.message and SCOPES[case.kind] in err.message
    assert TOKEN not in err.message and TOKEN not in str(err.details)
    assert application_error(err).non_retryable
    assert fake.open_pulls() == []


async def test_unknown_reviewer_is_a_note_and_the_pull_request_still_opens(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    outcome = await deliver(await connect(), case, settings=settings(case, reviewers=("nobody",)))

    [pr] = fake.open_pulls()
    assert pr.reviewers == []
    assert any("nobody" in note for note in outcome.notes)


async def test_follow_up_comment_is_posted_once_even_when_retried(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    forge = await connect()
    pr = (await deliver(forge, case)).pull_request
    follow_up = FollowUpContent(
        execution_id="follow-up-1",
        title="Address review",
        branch=BRANCH,
        commit_sha="b" * 40,
        previous_sha="a" * 40,
        commit_count=1,
        files=[FileLine("hello.txt", "modified", 2, 1)],
    )

    first, posted = await post_follow_up(forge, pr, follow_up)
    again, posted_again = await post_follow_up(forge, pr, follow_up)

    [stored] = fake.open_pulls()
    ours = [c for c in stored.comments if marker(case.kind, "follow-up-1", "follow-up") in c.body]
    assert posted and not posted_again and first.id == again.id
    assert len(ours) == 1 and "What changed: Address review" in ours[0].body


async def test_unresolved_review_threads_are_listed_answered_once_and_resolved(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    forge = await connect()
    pr = (await deliver(forge, case)).pull_request
    stored = fake.open_pulls()[0]
    fake.add_review_thread(stored, "hello.txt", 1, "Say hello to the world", "+1")
    fake.add_review_thread(stored, "README.md", 3, "Mention hello.txt here")
    done = fake.add_review_thread(stored, "hello.txt", 2, "Already handled")
    done.resolved = True

    threads = await forge.unresolved_review_threads(pr)

    assert sorted((t.path or "").lstrip("/") for t in threads) == ["README.md", "hello.txt"]
    first = next(t for t in threads if (t.path or "").endswith("hello.txt"))
    assert [c.body for c in first.comments] == ["Say hello to the world", "+1"]
    assert first.comments[0].author.lower().startswith("alice")
    await answer_thread(forge, pr, first, "Done in b0b0b0b.", execution_id=EXECUTION, resolve=False)
    # a retried activity lists the threads again and answers the same one
    fresh = next(t for t in await forge.unresolved_review_threads(pr) if t.id == first.id)
    resolved = await answer_thread(forge, pr, fresh, "Done in b0b0b0b.", execution_id=EXECUTION)

    replies = [c for c in stored.review + stored.comments if "Done in b0b0b0b." in c.body]
    assert len(replies) == 1
    assert resolved is case.resolves
    left = {(t.path or "").lstrip("/") for t in await forge.unresolved_review_threads(pr)}
    assert left == ({"README.md"} if case.resolves else {"README.md", "hello.txt"})


async def test_marker_comment_beyond_the_first_page_is_found(
    case: ForgeCase, fake: FakeForge, connect: OpenForge
) -> None:
    forge = await connect()
    pr = (await deliver(forge, case)).pull_request
    for n in range(5):
        await forge.comment(pr, f"chatter {n}")
    tag = marker(case.kind, "late", "follow-up")
    wanted = await forge.comment(pr, f"late comment\n\n{tag}")

    found = await forge.find_comment(pr, tag)

    assert found is not None and found.id == wanted.id

"""What builder writes on a pull request: bounded per provider, marker always last."""

from __future__ import annotations

import pytest

from activities.forges import (
    FileLine,
    FollowUpContent,
    ForgeKind,
    PullRequestContent,
    StepLine,
    TestSummary,
    find_marker,
    marker,
    render_body,
    render_follow_up,
    render_title,
)
from activities.forges.body import LIMITS

EXECUTION = "0192f7d2-5c3a-7b4e-9a10-3f2d1c0b9a87"


def content(
    files: int = 2, steps: int = 2, description: str = "Greets people."
) -> PullRequestContent:
    return PullRequestContent(
        execution_id=EXECUTION,
        title="Add a greeting",
        description=description,
        branch="builder/greeting",
        base="main",
        plan_summary="Write hello.txt.",
        steps=[StepLine(i, f"Step {i}", commit_sha=f"{i:040x}") for i in range(steps)],
        files=[FileLine(f"src/file_{i}.py", "modified", i + 1, i) for i in range(files)],
        tests=TestSummary(passed=10, failed=1, skipped=2, duration_s=3.25),
        build_passed=True,
        execution_url="https://builder.example.com/v1/executions/x",
    )


def test_body_lists_plan_steps_files_tests_and_links_the_execution() -> None:
    body = render_body(ForgeKind.GITHUB, content(), LIMITS[ForgeKind.GITHUB])
    assert body.startswith("Greets people.")
    assert "### Plan" in body and "Write hello.txt." in body
    assert "1. ✅ Step 0 (`0000000000`)" in body
    assert "2 file(s), +3 -1" in body and "| `src/file_1.py` | modified | 2 | 1 |" in body
    assert "Build: ✅ passed" in body and "Tests: ❌ 10 passed, 1 failed, 2 skipped in 3.2s" in body
    assert "[builder](https://builder.example.com/v1/executions/x)" in body
    assert body.rstrip().endswith(f"<!-- builder:execution={EXECUTION} -->")
    assert find_marker(body) == EXECUTION


def test_bitbucket_bodies_use_the_invisible_link_reference_marker() -> None:
    body = render_body(ForgeKind.BITBUCKET_CLOUD, content(), LIMITS[ForgeKind.BITBUCKET_CLOUD])
    assert "<!--" not in body
    assert body.rstrip().endswith(f"[//]: # (builder:execution={EXECUTION})")
    assert find_marker(body) == EXECUTION


@pytest.mark.parametrize("kind", list(ForgeKind))
def test_huge_changes_fit_every_providers_limit_and_keep_the_marker(kind: ForgeKind) -> None:
    big = content(files=5000, steps=400, description="word " * 20_000)
    body = render_body(kind, big, LIMITS[kind])
    assert len(body) <= LIMITS[kind].body
    assert find_marker(body) == EXECUTION
    assert "more file(s)" in body or "5000 file(s)" in body


def test_azure_limit_shrinks_lists_before_cutting_the_description() -> None:
    body = render_body(
        ForgeKind.AZURE_DEVOPS, content(files=300, steps=3), LIMITS[ForgeKind.AZURE_DEVOPS]
    )
    assert len(body) <= 4000
    assert body.startswith("Greets people.")
    assert "… and" in body and "more file(s)" in body


def test_markdown_in_file_names_cannot_break_the_table() -> None:
    odd = PullRequestContent(
        execution_id=EXECUTION,
        title="t",
        description="",
        branch="b",
        base="main",
        files=[FileLine("a|b`c.md", "created", 1, 0)],
    )
    body = render_body(ForgeKind.GITHUB, odd, LIMITS[ForgeKind.GITHUB])
    assert "| `a\\|b'c.md` | created | 1 | 0 |" in body


def test_a_spoofed_marker_in_the_description_does_not_win() -> None:
    spoof = content(description="<!-- builder:execution=someone-else -->")
    assert find_marker(render_body(ForgeKind.GITHUB, spoof, LIMITS[ForgeKind.GITHUB])) == EXECUTION


def test_title_is_one_line_cut_to_the_limit_with_the_draft_prefix_kept() -> None:
    limits = LIMITS[ForgeKind.GITLAB]
    title = render_title("Add\na   greeting " + "x" * 400, limits, prefix="Draft: ")
    assert title.startswith("Draft: Add a greeting ") and len(title) == limits.title
    assert title.endswith("…") and "\n" not in title
    assert render_title("   ", limits) == "builder change"


def test_follow_up_comment_says_what_changed_and_carries_its_own_marker() -> None:
    comment = render_follow_up(
        ForgeKind.GITHUB,
        FollowUpContent(
            execution_id="fu-1",
            title="Address review",
            branch="builder/greeting",
            commit_sha="b" * 40,
            previous_sha="a" * 40,
            commit_count=2,
            files=[FileLine("hello.txt", "modified", 3, 1)],
            addressed=["hello.txt:1 — Say hello to the world"],
            tests=TestSummary(passed=4),
        ),
        LIMITS[ForgeKind.GITHUB],
    )
    assert "### What changed: Address review" in comment
    assert "2 new commit(s) on `builder/greeting` (`aaaaaaaaaa..bbbbbbbbbb`)" in comment
    assert "- hello.txt:1 — Say hello to the world" in comment
    assert "Tests: ✅ 4 passed, 0 failed, 0 skipped" in comment
    assert comment.rstrip().endswith(marker(ForgeKind.GITHUB, "fu-1", "follow-up"))
    assert find_marker(comment, "follow-up") == "fu-1" and find_marker(comment) is None

"""Pure renderers of what builder writes on a forge: a pull request's title and body, and
the "what changed" comment of a follow-up.

Bodies end with a hidden marker tying the pull request to its execution
(`<!-- builder:execution=<id> -->`; on Bitbucket, whose Markdown shows HTML comments, the
invisible link-reference form `[//]: # (builder:execution=<id>)`). They are bounded by the
provider's limit: long file and step lists shrink first, then the description, and the
marker always survives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from activities.forges.model import ForgeKind, TextLimits

LIMITS = {
    ForgeKind.GITHUB: TextLimits(title=256, body=65_536),
    ForgeKind.GITLAB: TextLimits(title=255, body=1_000_000),
    ForgeKind.GITEA: TextLimits(title=255, body=65_536),
    ForgeKind.BITBUCKET_CLOUD: TextLimits(title=255, body=32_768),
    ForgeKind.BITBUCKET_DATACENTER: TextLimits(title=255, body=32_768),
    ForgeKind.AZURE_DEVOPS: TextLimits(title=400, body=4_000),
}

_MARKER = re.compile(
    r"(?:<!--\s*builder:(?P<k1>execution|follow-up)=(?P<v1>[\w.-]+)\s*-->"
    r"|\[//\]: # \(builder:(?P<k2>execution|follow-up)=(?P<v2>[\w.-]+)\))"
)
_ELLIPSIS = "…"


@dataclass(frozen=True)
class StepLine:
    """One plan step as the body lists it."""

    index: int
    description: str
    state: str = "completed"
    commit_sha: str | None = None


@dataclass(frozen=True)
class FileLine:
    """One changed file with its line counts."""

    path: str
    change_type: str
    lines_added: int = 0
    lines_removed: int = 0
    previous_path: str | None = None


@dataclass(frozen=True)
class TestSummary:
    """The test phase's outcome."""

    __test__ = False

    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    duration_s: float | None = None
    summary: str | None = None


@dataclass(frozen=True)
class PullRequestContent:
    """Everything a pull request body is made of."""

    execution_id: str
    title: str
    description: str
    branch: str
    base: str
    plan_summary: str | None = None
    steps: Sequence[StepLine] = ()
    files: Sequence[FileLine] = ()
    tests: TestSummary | None = None
    build_passed: bool | None = None
    execution_url: str | None = None


@dataclass(frozen=True)
class FollowUpContent:
    """What a follow-up execution added to an existing pull request."""

    execution_id: str
    title: str
    branch: str
    commit_sha: str
    previous_sha: str | None = None
    commit_count: int = 0
    description: str = ""
    steps: Sequence[StepLine] = ()
    files: Sequence[FileLine] = ()
    tests: TestSummary | None = None
    addressed: Sequence[str] = field(default_factory=tuple)
    execution_url: str | None = None


def marker(kind: ForgeKind, execution_id: str, what: str = "execution") -> str:
    """The hidden marker of an execution (or, with what="follow-up", of its comment)."""
    if kind in (ForgeKind.BITBUCKET_CLOUD, ForgeKind.BITBUCKET_DATACENTER):
        return f"[//]: # (builder:{what}={execution_id})"
    return f"<!-- builder:{what}={execution_id} -->"


def find_marker(body: str, what: str = "execution") -> str | None:
    """The execution id of the last marker of kind `what` in `body`, if any."""
    found = None
    for match in _MARKER.finditer(body or ""):
        kind = match.group("k1") or match.group("k2")
        if kind == what:
            found = match.group("v1") or match.group("v2")
    return found


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    if limit <= 0:
        return ""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + _ELLIPSIS


def render_title(title: str, limits: TextLimits, prefix: str = "") -> str:
    """One line, `prefix` (a forge's draft marker) kept, cut to the provider's limit."""
    return prefix + _cut(_one_line(title) or "builder change", limits.title - len(prefix))


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|").replace("`", "'")


def _sha(sha: str | None) -> str:
    return f" (`{sha[:10]}`)" if sha else ""


_STATE_MARK = {"completed": "✅", "failed": "❌", "skipped": "⏭️", "running": "⏳", "pending": "⏳"}


def _steps(steps: Sequence[StepLine], cap: int) -> list[str]:
    if not steps or cap <= 0:
        return [f"{len(steps)} step(s)."] if steps else []
    lines = [
        f"{s.index + 1}. {_STATE_MARK.get(s.state, '•')} {_cut(_one_line(s.description), 200)}"
        f"{_sha(s.commit_sha)}"
        for s in steps[:cap]
    ]
    if len(steps) > cap:
        lines.append(f"… and {len(steps) - cap} more step(s).")
    return lines


def _files(files: Sequence[FileLine], cap: int) -> list[str]:
    added = sum(f.lines_added for f in files)
    removed = sum(f.lines_removed for f in files)
    head = f"{len(files)} file(s), +{added} -{removed}"
    if not files or cap <= 0:
        return [head + "."] if files else ["No files changed."]
    rows = ["| File | Change | + | - |", "|---|---|---:|---:|"]
    for f in files[:cap]:
        name = _cell(f.path)
        if f.previous_path:
            name = f"{_cell(f.previous_path)} → {name}"
        rows.append(f"| `{name}` | {f.change_type} | {f.lines_added} | {f.lines_removed} |")
    if len(files) > cap:
        rows.append(f"| … and {len(files) - cap} more file(s) | | | |")
    return [head + ":", "", *rows]


def _tests(tests: TestSummary | None, build_passed: bool | None) -> list[str]:
    lines = []
    if build_passed is not None:
        lines.append("Build: " + ("✅ passed" if build_passed else "❌ failed"))
    if tests is not None:
        ok = tests.failed == 0 and tests.errors == 0
        counts = f"{tests.passed} passed, {tests.failed} failed, {tests.skipped} skipped"
        if tests.errors:
            counts += f", {tests.errors} errors"
        if tests.duration_s is not None:
            counts += f" in {tests.duration_s:.1f}s"
        lines.append(f"Tests: {'✅' if ok else '❌'} {counts}")
        if tests.summary:
            lines.append("")
            lines.append(_cut(_one_line(tests.summary), 500))
    return lines


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"### {title}", "", *lines, ""] if lines else []


def _footer(kind: ForgeKind, execution_id: str, branch: str, base: str, url: str | None) -> str:
    who = f"[builder]({url})" if url else "builder"
    return (
        f"---\nOpened by {who} for execution `{execution_id}` · `{branch}` → `{base}`\n\n"
        f"{marker(kind, execution_id)}\n"
    )


# (files shown, steps shown, description characters) from the richest to the barest
_LEVELS: tuple[tuple[int, int, int | None], ...] = (
    (100, 50, None),
    (30, 20, 4000),
    (10, 10, 1500),
    (5, 5, 600),
    (0, 0, 300),
)


def _fit(kind: ForgeKind, limit: int, build: list[str], footer: str) -> str:
    text = "\n".join(build).rstrip() + "\n\n" + footer
    if len(text) <= limit:
        return text
    room = limit - len(footer) - len("\n\n") - len(_ELLIPSIS)
    return "\n".join(build)[: max(room, 0)].rstrip() + _ELLIPSIS + "\n\n" + footer


def render_body(kind: ForgeKind, content: PullRequestContent, limits: TextLimits) -> str:
    """The pull request body, at most `limits.body` characters, marker last."""
    footer = _footer(
        kind, content.execution_id, content.branch, content.base, content.execution_url
    )
    text = ""
    for files_cap, steps_cap, description_cap in _LEVELS:
        description = content.description.strip()
        if description_cap is not None:
            description = _cut(description, description_cap)
        parts = [description, ""] if description else []
        if content.plan_summary:
            parts += _section("Plan", [_cut(content.plan_summary.strip(), 2000)])
        parts += _section("Steps", _steps(content.steps, steps_cap))
        parts += _section("Files changed", _files(content.files, files_cap))
        parts += _section("Verification", _tests(content.tests, content.build_passed))
        text = "\n".join(parts).rstrip() + "\n\n" + footer
        if len(text) <= limits.body:
            return text
    return _fit(kind, limits.body, text.removesuffix(footer).rstrip().splitlines(), footer)


def render_follow_up(kind: ForgeKind, content: FollowUpContent, limits: TextLimits) -> str:
    """The "what changed" comment of a follow-up execution, marker last."""
    where = f"`{content.branch}`"
    commits = f"{content.commit_count} new commit(s) on {where}"
    if content.previous_sha:
        commits += f" (`{content.previous_sha[:10]}..{content.commit_sha[:10]}`)"
    else:
        commits += f" (now at `{content.commit_sha[:10]}`)"
    who = f"[builder]({content.execution_url})" if content.execution_url else "builder"
    footer = (
        f"---\nFollow-up by {who}, execution `{content.execution_id}`\n\n"
        f"{marker(kind, content.execution_id, 'follow-up')}\n"
    )
    text = ""
    for files_cap, steps_cap, description_cap in _LEVELS:
        parts = [f"### What changed: {_cut(_one_line(content.title), 200)}", "", commits, ""]
        if content.description.strip():
            parts += [_cut(content.description.strip(), description_cap or 4000), ""]
        if content.addressed:
            parts += _section(
                "Review comments addressed",
                [f"- {_cut(_one_line(a), 200)}" for a in content.addressed[: max(steps_cap, 3)]],
            )
        parts += _section("Steps", _steps(content.steps, steps_cap))
        parts += _section("Files changed", _files(content.files, files_cap))
        parts += _section("Verification", _tests(content.tests, None))
        text = "\n".join(parts).rstrip() + "\n\n" + footer
        if len(text) <= limits.body:
            return text
    return _fit(kind, limits.body, text.removesuffix(footer).rstrip().splitlines(), footer)

"""One execution end to end: real Temporal dev server, real Postgres, a local bare remote."""

from __future__ import annotations

import subprocess
import uuid

from persistence.uow import UnitOfWork

CHANGES = [
    {"op": "write_file", "path": "greeting/hello.py", "content": "def hello():\n    return 'hi'\n"},
    {
        "op": "replace_text",
        "path": "src/pkg0/file_0.txt",
        "search": "line 0 of",
        "replace": "LINE 0 of",
        "count": 1,
    },
    {"op": "write_file", "path": "README.md", "content": "# demo\n"},
]


def git(remote, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


async def test_spec_execution_pushes_one_commit_per_step_and_tells_the_whole_story(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=20)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote))
    execution_id, handle = await harness.start(tenant, repo_id, CHANGES)

    outcome = await handle.result()
    assert outcome.state == "completed", outcome

    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
        steps = await uow.steps.get_by_feature_id(tenant, execution_id)
        changes = await uow.file_changes.list_by_execution(tenant, execution_id)
        events = await uow.events.read_after(execution_id, 0, 1000)

    branch = row.feature_branch
    head = git(remote, "rev-parse", f"refs/heads/{branch}")
    assert head == row.result["commit_sha"]
    assert git(remote, "rev-list", "--count", f"main..{branch}") == str(len(CHANGES))
    assert [s.state for s in steps] == [2, 2, 2]
    assert {c.file_path for c in changes} == {
        "greeting/hello.py",
        "src/pkg0/file_0.txt",
        "README.md",
    }
    assert row.completed_at is not None and row.state == 6
    sequence = [e.sequence_number for e in events]
    assert sequence == list(range(1, len(events) + 1))
    types = [e.event_type for e in events]
    for expected in (
        "execution.state_changed",
        "plan.created",
        "step.completed",
        "file.changed",
        "push.completed",
        "execution.completed",
        "lock.acquired",
        "lock.released",
    ):
        assert expected in types, expected
    states = [e.payload["to"] for e in events if e.event_type == "execution.state_changed"]
    assert states == ["analyzing", "planning", "executing", "verifying", "completed"]
    # the repository has no build or test command: both phases are recorded skipped with
    # the verifying state change, and no verify activity ran
    (at,) = [
        i for i, e in enumerate(events)
        if e.event_type == "execution.state_changed" and e.payload["to"] == "verifying"
    ]  # fmt: skip
    after = events[at + 1 : at + 3]
    assert [(e.event_type, e.payload["phase"], e.payload["skipped"]) for e in after] == [
        ("build.completed", "build", True),
        ("test.completed", "test", True),
    ]
    history = await handle.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "push" in scheduled and "verify" not in scheduled

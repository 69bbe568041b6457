"""What must hold after any fault: one clean, complete story per execution."""

from __future__ import annotations

import collections
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

from domain.edits import DeleteEdit, RenameEdit, WriteEdit, file_edits_adapter
from persistence.artifacts import ArtifactService
from persistence.tables import DistributedLockRow
from persistence.uow import UnitOfWork


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    ).stdout.strip()


def recompute_head_with_git_cli(remote: Path, base: str, steps: list[Any], scratch: Path) -> str:
    """Rebuild the branch from the stored edits with the git CLI: the SHA an undisturbed run
    makes, computed independently of builder's own git code."""
    git("clone", "-q", str(remote), str(scratch))
    git("checkout", "-q", "--detach", base, cwd=scratch)
    for step in steps:
        for edit in file_edits_adapter.validate_python(step.generated_edits):
            target = scratch / edit.path
            if isinstance(edit, WriteEdit):
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(edit.content)
            elif isinstance(edit, DeleteEdit):
                target.unlink()
            elif isinstance(edit, RenameEdit):
                new = scratch / edit.new_path
                new.parent.mkdir(parents=True, exist_ok=True)
                target.rename(new)
                if edit.content is not None:
                    new.write_text(edit.content)
        git("add", "-A", cwd=scratch)
        stamp = f"@{step.commit_timestamp} +0000"
        who = {
            "GIT_AUTHOR_NAME": "builder",
            "GIT_AUTHOR_EMAIL": "builder@localhost",
            "GIT_COMMITTER_NAME": "builder",
            "GIT_COMMITTER_EMAIL": "builder@localhost",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }
        message = scratch.parent / f"msg-{uuid.uuid4().hex}"
        message.write_text(step.commit_message)
        git("commit", "-q", "--cleanup=verbatim", "-F", str(message), cwd=scratch, env=who)
    return git("rev-parse", "HEAD", cwd=scratch)


async def assert_completed_exactly_once(
    sessions: Any,
    tenant: uuid.UUID,
    execution_id: uuid.UUID,
    remote: Path,
    expected_steps: int,
    workspace_root: Path,
    scratch: Path,
) -> None:
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
        steps = await uow.steps.get_by_feature_id(tenant, execution_id)
        changes = await uow.file_changes.list_by_execution(tenant, execution_id)
        events = await uow.events.read_after(execution_id, 0, 10_000)
        artifacts = await ArtifactService(uow.session, None).list_by_execution(tenant, execution_id)  # type: ignore[arg-type]
        locks = (
            await uow.session.execute(
                DistributedLockRow.__table__.select().where(
                    DistributedLockRow.feature_id == execution_id
                )
            )
        ).all()

    assert row.state == 6, (row.state, row.error)
    branch = row.feature_branch
    head = git("--git-dir", str(remote), "rev-parse", f"refs/heads/{branch}")
    assert head == row.result["commit_sha"]
    assert git(
        "--git-dir", str(remote), "rev-list", "--count", f"{row.base_commit}..{branch}"
    ) == str(expected_steps)
    assert len(steps) == expected_steps and all(s.state == 2 for s in steps)
    chain = git(
        "--git-dir", str(remote), "rev-list", "--reverse", f"{row.base_commit}..{branch}"
    ).split()
    assert chain == [s.commit_sha for s in steps]
    assert head == recompute_head_with_git_cli(remote, row.base_commit, steps, scratch)

    keys = [(c.execution_step_id, c.file_path) for c in changes]
    assert len(keys) == len(set(keys))
    assert len({a.name for a in artifacts}) == len(artifacts)

    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    per_step = collections.Counter(
        (e.event_type, e.payload.get("step_index"))
        for e in events
        if e.event_type in ("step.completed", "step.started")
    )
    assert set(per_step.values()) == {1}, per_step
    singles = collections.Counter(e.event_type for e in events)
    for kind in ("push.completed", "execution.completed", "plan.created", "analysis.completed"):
        assert singles[kind] == 1, (kind, singles)
    transitions = [e.payload["to"] for e in events if e.event_type == "execution.state_changed"]
    assert transitions == ["analyzing", "planning", "executing", "verifying", "completed"]

    assert locks == []
    assert not (workspace_root / str(execution_id)).exists()

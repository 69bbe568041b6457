"""Cancellation, credentials kept out of Temporal, and what operators can query."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from google.protobuf.json_format import MessageToJson
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from domain.contracts import CancelRequest
from domain.enums import CredentialType
from domain.values import CredentialData
from persistence.credentials import CredentialRepository
from persistence.tables import DistributedLockRow
from persistence.uow import UnitOfWork
from persistence.vault import Keyring
from tests.integration.workflow.conftest import VAULT_KEY

WRITE = [{"op": "write_file", "path": "notes/a.txt", "content": "hello\n"}]
HISTORIES = Path(__file__).resolve().parents[2] / "histories"


def _branches(remote: Path) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref", "--format=%(refname)", "refs/heads"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


async def _wait_for_state(sessions, tenant, execution_id, state: int, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with UnitOfWork(sessions) as uow:
            row = await uow.executions.get(tenant, execution_id)
        if row.state == state:
            return
        assert asyncio.get_running_loop().time() < deadline, f"state stayed {row.state}"
        await asyncio.sleep(0.2)


def _record_history(name: str, history_json: str) -> None:
    """Refresh tests/histories when asked (BUILDER_RECORD_HISTORIES=1); replay tests read them."""
    if os.environ.get("BUILDER_RECORD_HISTORIES") == "1":
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / f"{name}.json").write_text(history_json)


async def test_cancel_during_the_test_phase_ends_cancelled_with_cleanup_and_nothing_pushed(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "sleep 60"})
    execution_id, handle = await harness.start(tenant, repo_id, WRITE)
    await _wait_for_state(sessions, tenant, execution_id, 5)  # verifying
    await asyncio.sleep(1.0)
    started = asyncio.get_running_loop().time()
    await handle.signal("cancel", CancelRequest(reason="changed my mind"))
    outcome = await handle.result()
    elapsed = asyncio.get_running_loop().time() - started

    assert outcome.state == "cancelled"
    assert outcome.error.message == "changed my mind"
    assert elapsed < 15
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
        locks = (
            await uow.session.scalars(
                DistributedLockRow.__table__.select().where(
                    DistributedLockRow.feature_id == execution_id
                )
            )
        ).all()
        events = await uow.events.read_after(execution_id, 0, 1000)
        artifacts = {a.name for a in await _artifacts(uow, tenant, execution_id)}
    assert row.state == 8 and row.error["code"] == "cancelled"
    assert locks == []
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event_type == "execution.cancelled"
    assert "partial.patch" in artifacts
    assert _branches(remote) == ["refs/heads/main"]
    workspace = Path(running_worker.resolved_workspace_dir()) / str(execution_id)
    assert not workspace.exists()
    _record_history("e2e-cancelled", (await handle.fetch_history()).to_json())


async def _artifacts(uow, tenant, execution_id):
    from persistence.artifacts import ArtifactService

    return await ArtifactService(uow.session, None).list_by_execution(tenant, execution_id)  # type: ignore[arg-type]


async def test_temporal_cancel_ends_cancelled_and_the_ui_shows_cancelled(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"build_command": "sleep 60"})
    execution_id, handle = await harness.start(tenant, repo_id, WRITE)
    await _wait_for_state(sessions, tenant, execution_id, 5)
    await handle.cancel()
    # the run records `cancelled` in Postgres, then ends as Canceled in Temporal
    with pytest.raises(WorkflowFailureError) as ended:
        await asyncio.wait_for(handle.result(), 30)
    assert isinstance(ended.value.cause, CancelledError)
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.CANCELED
    await _wait_for_state(sessions, tenant, execution_id, 8, timeout=5)
    assert _branches(remote) == ["refs/heads/main"]


async def test_failed_build_fails_the_execution_with_build_failed_and_pushes_nothing(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(
        tenant, str(remote), {"build_command": "echo compiling; echo boom >&2; exit 3"}
    )
    execution_id, handle = await harness.start(tenant, repo_id, WRITE)
    with contextlib.suppress(Exception):
        await handle.result()
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
    assert row.state == 7
    assert row.error["code"] == "build_failed"
    assert "boom" in json.dumps(row.error["details"])
    assert _branches(remote) == ["refs/heads/main"]
    _record_history("e2e-failed", (await handle.fetch_history()).to_json())


async def test_token_never_enters_the_temporal_history_and_operators_find_the_run(
    harness, running_worker, http_git_server, sessions, temporal_client, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    name = http_git_server.add_repo(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, http_git_server.url(name, "token"))
    async with UnitOfWork(sessions) as uow:
        await CredentialRepository(uow.session, Keyring.parse(VAULT_KEY)).set_credential(
            tenant, repo_id, CredentialType.TOKEN, CredentialData(token=http_git_server.token)
        )
        await uow.commit()
    execution_id, handle = await harness.start(tenant, repo_id, WRITE)
    outcome = await handle.result()
    assert outcome.state == "completed", outcome

    history = await handle.fetch_history()
    for event in history.events:
        assert http_git_server.token not in MessageToJson(event)
    assert http_git_server.token not in history.to_json()
    assert caplog.records and http_git_server.token not in caplog.text
    async with UnitOfWork(sessions) as uow:
        events = await uow.events.read_after(execution_id, 0, 1000)
    assert http_git_server.token not in repr([e.payload for e in events])
    _record_history("e2e-completed", history.to_json())

    query = f"BuilderState='completed' AND BuilderTenantId='{tenant}'"
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in temporal_client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == [handle.id]
    listed = subprocess.run(
        [
            "temporal",
            "workflow",
            "list",
            "--address",
            running_worker.temporal_address,
            "--query",
            query,
            "-o",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert handle.id in listed


async def test_run_past_timeout_minutes_fails_with_code_timeout_and_cleans_up(
    harness, running_worker, bare_remote, sessions
) -> None:
    remote = bare_remote(files=5)
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "sleep 300"})
    execution_id, handle = await harness.start(
        tenant, repo_id, WRITE, constraints={"timeout_minutes": 1}
    )
    with contextlib.suppress(Exception):
        await asyncio.wait_for(handle.result(), 120)
    async with UnitOfWork(sessions) as uow:
        row = await uow.executions.get(tenant, execution_id)
        held = (
            await uow.session.execute(
                DistributedLockRow.__table__.select().where(
                    DistributedLockRow.feature_id == execution_id
                )
            )
        ).all()
    assert row.state == 7
    assert row.error["code"] == "timeout"
    assert "1 minutes" in row.error["message"]
    assert held == []
    assert _branches(remote) == ["refs/heads/main"]

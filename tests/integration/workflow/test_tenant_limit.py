"""The per-tenant concurrency limit with the real worker on the dev server: beyond the limit
an execution waits in `pending` with its queue position in the API and in the Temporal UI's
details, and runs once a running one ends; a cancelled waiter ends at once and frees
nothing it did not hold."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowHandle

from api.admin import create_api_key, set_tenant_limit
from api.app import create_app
from api.deps import ApiDeps
from builder.git_probe import GitRemoteProbe
from domain.contracts import CancelRequest
from persistence.admission import AdmissionRepository
from persistence.artifacts.local import LocalArtifactStore
from persistence.uow import UnitOfWork
from persistence.vault import Keyring
from tests.integration.api.conftest import api_config, client_for, git_config

WRITE = [{"op": "write_file", "path": "notes/a.txt", "content": "hello\n"}]
HISTORIES = Path(__file__).resolve().parents[2] / "histories"
PENDING, ANALYZING = 1, 2


@pytest.fixture
async def api(
    sessions: Any, database_url: str, temporal_client: Client, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async def temporal() -> Client:
        return temporal_client

    deps = ApiDeps(
        sessions=sessions,
        temporal=temporal,
        artifacts=LocalArtifactStore(tmp_path / "artifacts"),
        keyring=Keyring({"k": os.urandom(32)}, "k"),
        database_url=database_url,
        config=api_config(tmp_path),
        remote_probe=GitRemoteProbe(git_config(tmp_path)),
    )
    async with client_for(create_app(deps)) as client:
        yield client


async def _state(sessions: Any, tenant: uuid.UUID, execution_id: uuid.UUID) -> int:
    async with UnitOfWork(sessions) as uow:
        return int((await uow.executions.get(tenant, execution_id)).state)


async def _until(predicate: Any, what: str, timeout: float = 40) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.2)


async def _position(sessions: Any, tenant: uuid.UUID, execution_id: uuid.UUID) -> int | None:
    async with sessions() as session:
        positions = await AdmissionRepository(session).queue_positions(tenant, [execution_id])
    return positions.get(execution_id)


async def _details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def _get(api: httpx.AsyncClient, key: str, execution_id: uuid.UUID) -> dict[str, Any]:
    response = await api.get(
        f"/v1/executions/{execution_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _limited_tenant(sessions: Any, limit: int) -> tuple[uuid.UUID, str]:
    tenant = uuid.uuid4()
    await set_tenant_limit(sessions, tenant, limit, None)
    _id, key = await create_api_key(sessions, tenant, "tests")
    return tenant, key


async def _waiting_at_one(
    sessions: Any, api: httpx.AsyncClient, key: str, tenant: uuid.UUID, execution_id: uuid.UUID,
    handle: WorkflowHandle[Any, Any],
) -> None:  # fmt: skip
    async def queued() -> bool:
        return await _position(sessions, tenant, execution_id) == 1

    async def shown() -> bool:
        return "position 1" in await _details(handle)

    await _until(queued, "the execution never joined the queue")
    await _until(shown, "the Temporal UI details never showed the position")
    body = await _get(api, key, execution_id)
    assert (body["state"], body["queue_position"]) == ("pending", 1)
    listed = await api.get("/v1/executions", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200, listed.text
    positions = {item["id"]: item["queue_position"] for item in listed.json()["items"]}
    assert positions[str(execution_id)] == 1
    assert [p for p in positions.values() if p is not None] == [1]  # the running one: null
    assert "waiting for an execution slot" in await _details(handle)


async def test_beyond_the_limit_an_execution_waits_pending_at_position_one_then_runs(
    harness, running_worker, bare_remote, sessions, api
) -> None:
    tenant, key = await _limited_tenant(sessions, 1)
    repo_id = await harness.repository(
        tenant, str(bare_remote(files=5)), {"test_command": "sleep 5"}
    )
    first_id, first = await harness.start(tenant, repo_id, WRITE)

    async def first_runs() -> bool:
        return await _state(sessions, tenant, first_id) >= ANALYZING

    await _until(first_runs, "the first execution never started")
    second_id, second = await harness.start(tenant, repo_id, WRITE)
    await _waiting_at_one(sessions, api, key, tenant, second_id, second)
    await asyncio.sleep(1.0)  # still waiting while the first runs
    assert await _state(sessions, tenant, second_id) == PENDING
    assert await _state(sessions, tenant, first_id) not in (6, 7, 8)

    assert (await asyncio.wait_for(first.result(), 90)).state == "completed"
    assert (await asyncio.wait_for(second.result(), 90)).state == "completed"
    async with UnitOfWork(sessions) as uow:
        ended = (await uow.executions.get(tenant, first_id)).completed_at
        events = await uow.events.read_after(second_id, 0, 1000)
    started = next(e for e in events if e.payload.get("to") == "analyzing")
    assert ended is not None and started.created_at >= ended  # it ran after the first ended
    # and soon after: waiters poll at most admission_poll_max_s (5 s) apart
    wakeup = (started.created_at - ended).total_seconds()
    print(f"admitted {wakeup:.2f} s after the slot came free")
    assert wakeup < 15
    body = await _get(api, key, second_id)
    assert (body["state"], body["queue_position"]) == ("completed", None)
    async with sessions() as session:  # their endings released both rows
        released = await session.execute(
            text(
                "SELECT admitted_at IS NOT NULL, released_at IS NOT NULL "
                "FROM execution_admissions WHERE feature_execution_id = ANY(:ids)"
            ).bindparams(bindparam("ids", type_=ARRAY(PgUUID(as_uuid=True)))),
            {"ids": [first_id, second_id]},
        )
        assert sorted(released.all()) == [(True, True), (True, True)]
    if os.environ.get("BUILDER_RECORD_HISTORIES") == "1":
        history = await harness.client.get_workflow_handle(second.id).fetch_history()
        (HISTORIES / "tenant-limit-wait.json").write_text(history.to_json())


async def test_a_cancelled_waiter_ends_at_once_and_frees_nothing(
    harness, running_worker, bare_remote, sessions, api
) -> None:
    tenant, key = await _limited_tenant(sessions, 1)
    repo_id = await harness.repository(
        tenant, str(bare_remote(files=5)), {"test_command": "sleep 8"}
    )
    first_id, first = await harness.start(tenant, repo_id, WRITE)

    async def first_runs() -> bool:
        return await _state(sessions, tenant, first_id) >= ANALYZING

    await _until(first_runs, "the first execution never started")
    second_id, second = await harness.start(tenant, repo_id, WRITE)
    await _waiting_at_one(sessions, api, key, tenant, second_id, second)

    await second.signal("cancel", CancelRequest(reason="not needed"))
    outcome = await asyncio.wait_for(second.result(), 30)
    assert outcome.state == "cancelled" and outcome.error.message == "not needed"
    async with UnitOfWork(sessions) as uow:
        events = await uow.events.read_after(second_id, 0, 1000)
    states = [e.payload["to"] for e in events if e.event_type == "execution.state_changed"]
    assert states == ["cancelled"]  # it never started: no lock, no worktree

    # the first still holds the one slot: a third waits at position 1, then runs
    third_id, third = await harness.start(tenant, repo_id, WRITE)
    await _waiting_at_one(sessions, api, key, tenant, third_id, third)
    assert await _state(sessions, tenant, first_id) not in (6, 7, 8)
    assert (await asyncio.wait_for(first.result(), 90)).state == "completed"
    assert (await asyncio.wait_for(third.result(), 90)).state == "completed"

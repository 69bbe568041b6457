"""The SSE stream over a real HTTP server: wake-ups from the cursor poller, resume with
Last-Event-ID exactly once and in order, and the end after the terminal event."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from persistence.events import EventStore
from tests.integration.api.conftest import (
    Tenant,
    client_for,
    execution_body,
    register_repository,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server_url(app: FastAPI) -> AsyncIterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def _append(
    sessions: async_sessionmaker[AsyncSession], execution_id: str, event_type: str, n: int
) -> None:
    async with sessions.begin() as session:
        await EventStore(session).append(
            uuid.UUID(execution_id), event_type, {"n": n}, producer_id="tests"
        )


async def _frames(response: httpx.Response) -> AsyncIterator[tuple[int, str]]:
    """(id, event) of each SSE event frame, skipping comments."""
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "id" in frame:
                yield int(frame["id"]), frame["event"]
            frame = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            frame[name] = value


async def test_reconnecting_with_last_event_id_receives_every_event_once_in_order(
    app: FastAPI,
    server_url: str,
    tenant: Tenant,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with client_for(app) as api:
        repo = await register_repository(api, tenant)
        created = await api.post(
            "/v1/executions", json=execution_body(repo["id"]), headers=tenant.headers
        )
    execution_id = created.json()["id"]
    for n in range(2, 4):
        await _append(sessions, execution_id, "step.started", n)
    url = f"{server_url}/v1/executions/{execution_id}/events/stream"
    received: list[tuple[int, str]] = []

    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", url, headers=tenant.headers) as first:
            assert first.status_code == 200
            assert first.headers["content-type"].startswith("text/event-stream")
            frames = _frames(first)
            for _ in range(3):
                received.append(await anext(frames))
            # a live event wakes the stream through the cursor poller, far sooner than the
            # 15 s heartbeat
            started = time.monotonic()
            await _append(sessions, execution_id, "step.completed", 4)
            received.append(await asyncio.wait_for(anext(frames), timeout=5))
            assert time.monotonic() - started < 3
        # disconnected: these land while no one listens
        for n in range(5, 8):
            await _append(sessions, execution_id, "file.changed", n)
        last_seen = received[-1][0]
        headers = {**tenant.headers, "Last-Event-ID": str(last_seen)}
        async with http.stream("GET", url, headers=headers) as second:
            frames = _frames(second)
            for _ in range(3):
                received.append(await asyncio.wait_for(anext(frames), timeout=5))
            await _append(sessions, execution_id, "execution.completed", 8)
            rest = [f async for f in frames]  # the stream ends after the terminal event
        received.extend(rest)

    assert [seq for seq, _ in received] == list(range(1, 9))
    assert received[0][1] == "execution.created"
    assert received[-1][1] == "execution.completed"


async def test_events_page_resumes_after_a_sequence_number(
    client: httpx.AsyncClient, tenant: Tenant, sessions: async_sessionmaker[AsyncSession]
) -> None:
    repo = await register_repository(client, tenant)
    created = await client.post(
        "/v1/executions", json=execution_body(repo["id"]), headers=tenant.headers
    )
    execution_id = created.json()["id"]
    for n in range(2, 6):
        await _append(sessions, execution_id, "step.started", n)
    url = f"/v1/executions/{execution_id}/events"
    first = (await client.get(url, params={"limit": 2}, headers=tenant.headers)).json()
    second = (
        await client.get(url, params={"after": first["next_after"]}, headers=tenant.headers)
    ).json()
    assert [e["sequence_number"] for e in first["items"]] == [1, 2]
    assert [e["sequence_number"] for e in second["items"]] == [3, 4, 5]
    assert second["items"][-1]["payload"] == {"n": 5}

"""Each stop of the agent engine ends the execution clearly, keeps the partial patch and the
transcript as artifacts and pushes nothing: the turn budget, the wall time, the cost budget,
a stuck loop, the same error over and over, edits to a forbidden path and commands that time
out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from builder.deps import artifact_store
from builder.worker import run_worker
from domain.enums import FeatureState
from persistence.artifacts import ArtifactService
from persistence.uow import UnitOfWork
from tests.integration.codegen.model_server import Reply, ScriptedModelServer
from tests.integration.workflow.conftest import worker_settings
from tests.integration.workflow.test_llm_execution import make_remote

EDIT = Reply(
    text="Fixing add.",
    tool_calls=[("edit_file", {"path": "calc.py", "old": "a - b", "new": "a + b"})],
)


def read(n: int) -> Reply:
    return Reply(tool_calls=[("read_file", {"path": "calc.py", "start_line": n})])


@pytest.fixture
def model_server() -> Any:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def agent_worker(ctx: dict[str, Any], **limits: Any) -> AsyncIterator[None]:
    server: ScriptedModelServer = ctx["model_server"]
    settings = worker_settings(
        ctx["database_url"], ctx["temporal_server"], ctx["tmp_path"] / "state",
        task_queue=ctx["harness"].task_queue, llm_provider="openai", llm_model="scripted-1",
        llm_base_url=server.openai_base_url, llm_api_key="sk-stops-1", **limits,
    )  # fmt: skip
    ctx["settings"] = settings
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    await asyncio.sleep(0.5)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
def ctx(database_url, temporal_server, harness, model_server, tmp_path) -> dict[str, Any]:
    return {
        "database_url": database_url, "temporal_server": temporal_server, "harness": harness,
        "model_server": model_server, "tmp_path": tmp_path,
    }  # fmt: skip


def branches(remote: Path) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(remote), "for-each-ref", "--format=%(refname)", "refs/heads"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return out.split()


async def stopped_run(
    ctx: dict[str, Any], sessions: Any, turns: list[Reply], **constraints: Any
) -> tuple[Any, dict[str, bytes], Path]:
    remote = make_remote(ctx["tmp_path"])
    ctx["model_server"].turns = turns
    tenant = uuid.uuid4()
    harness = ctx["harness"]
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "python -m pytest -q"})
    execution_id, handle = await harness.start(
        tenant, repo_id, [], title="Fix add", engine="agent", constraints=constraints or None
    )
    with contextlib.suppress(Exception):
        await asyncio.wait_for(handle.result(), 120)
    desc = await handle.describe()
    store = artifact_store(ctx["settings"])
    artifacts: dict[str, bytes] = {}
    async with UnitOfWork(sessions) as uow:
        service = ArtifactService(uow.session, store)
        for artifact in await service.list_by_execution(tenant, execution_id):
            stream = await service.open(tenant, artifact.id)
            artifacts[artifact.name] = b"".join([c async for c in stream])
        row = await uow.executions.get(tenant, execution_id)
    assert desc.status.name == "FAILED" and FeatureState(row.state).label == "failed"
    assert branches(remote) == ["refs/heads/main"]  # nothing pushed
    assert "agent-transcript.json" in artifacts
    return row, artifacts, remote


async def test_the_turn_budget_stops_the_run_with_the_partial_patch_kept(ctx, sessions) -> None:
    async with agent_worker(ctx, agent_max_turns=3):
        row, artifacts, _ = await stopped_run(ctx, sessions, [EDIT, read(1), read(2), read(3)])
    assert row.error["code"] == "generation_failed"
    assert "agent turn budget exhausted: 3 of 3 turns used" in row.error["message"]
    assert b"+    return a + b" in artifacts["agent-partial.patch"]
    assert ctx["model_server"].turn_answers == {0: 1, 1: 1, 2: 1}


async def test_the_cost_budget_stops_before_a_call_it_cannot_pay(ctx, sessions) -> None:
    costly = [Reply(**{**vars(r), "input_tokens": 10_000}) for r in [EDIT, read(1), read(2)]]
    async with agent_worker(
        ctx, llm_prices_per_1k={"scripted-1": (0.5, 1.5)}, llm_max_cost_usd_per_execution=8.0
    ):
        row, artifacts, _ = await stopped_run(ctx, sessions, costly)
    assert "cost budget exceeded" in row.error["message"]
    assert ctx["model_server"].turn_answers == {0: 1, 1: 1}  # $5 each: a third never asked
    assert b"a + b" in artifacts["agent-partial.patch"]


async def test_a_stuck_loop_is_stopped(ctx, sessions) -> None:
    async with agent_worker(ctx):
        row, artifacts, _ = await stopped_run(ctx, sessions, [EDIT, read(1), read(1), read(1)])
    assert (
        "agent is stuck: the same action and observation 3 times in a row" in (row.error["message"])
    )
    transcript = json.loads(artifacts["agent-transcript.json"])
    assert len(transcript["turns"]) == 4


async def test_edits_to_a_forbidden_path_are_refused_then_stop_the_run(ctx, sessions) -> None:
    tries = [
        Reply(tool_calls=[("write_file", {"path": "secret/keys.txt", "content": f"k{n}"})])
        for n in range(3)
    ]
    tries[1] = Reply(tool_calls=[("run", {"command": "mkdir -p secret && echo x > secret/a"})])
    async with agent_worker(ctx):
        row, artifacts, _ = await stopped_run(
            ctx, sessions, [EDIT, *tries], forbidden_paths=["secret/**"]
        )
    assert row.error["code"] == "invalid_input"
    assert "agent kept touching forbidden paths (3 refused tool calls)" in row.error["message"]
    patch = artifacts["agent-partial.patch"]
    assert b"a + b" in patch and b"secret" not in patch  # the command's write was undone
    transcript = json.loads(artifacts["agent-transcript.json"])
    refused = [o["content"] for t in transcript["turns"] for o in t["outcomes"] if o["is_error"]]
    assert "matches forbidden pattern 'secret/**'" in refused[0]
    assert "changed paths the rules forbid, which were restored: secret/a" in refused[1]


async def test_commands_that_time_out_stop_the_run(ctx, sessions) -> None:
    slow = [Reply(tool_calls=[("run", {"command": f"sleep {n}0"})]) for n in (3, 4)]
    async with agent_worker(ctx, agent_command_timeout_seconds=1.5):
        row, artifacts, _ = await stopped_run(ctx, sessions, [EDIT, *slow])
    assert "agent commands timed out 2 times (limit 2 s each)" in row.error["message"]
    assert b"a + b" in artifacts["agent-partial.patch"]


async def test_the_same_failing_test_run_repeated_stops_the_run(ctx, sessions) -> None:
    pytest_run = Reply(tool_calls=[("run", {"command": "python -m pytest -q -p no:cacheprovider"})])
    notes = [Reply(tool_calls=[("write_file", {"path": "notes.txt", "content": f"try {n}"})])
             for n in range(2)]  # fmt: skip
    async with agent_worker(ctx, agent_max_repeated_errors=3):
        row, artifacts, _ = await stopped_run(
            ctx, sessions, [pytest_run, notes[0], pytest_run, notes[1], pytest_run, EDIT]
        )
    assert row.error["code"] == "generation_failed"
    assert (
        "agent keeps hitting the same error: run failed the same way 3 times; last: exit code 1"
        in row.error["message"]
    ), row.error
    assert "failed" in row.error["message"]  # pytest's last line names the failure
    assert ctx["model_server"].turn_answers == {n: 1 for n in range(5)}  # no sixth call
    assert b"+try 1" in artifacts["agent-partial.patch"]
    transcript = json.loads(artifacts["agent-transcript.json"])
    assert len(transcript["turns"]) == 5


async def test_a_repeated_tool_error_stops_the_run(ctx, sessions) -> None:
    missing = Reply(tool_calls=[("edit_file", {"path": "calc.py", "old": "nope", "new": "x"})])
    async with agent_worker(ctx, agent_max_repeated_errors=2):
        row, artifacts, _ = await stopped_run(ctx, sessions, [EDIT, missing, read(1), missing])
    assert (
        "agent keeps hitting the same error: edit_file failed the same way 2 times"
        in (row.error["message"])
    )
    assert ctx["model_server"].turn_answers == {n: 1 for n in range(4)}
    assert b"+    return a + b" in artifacts["agent-partial.patch"]


async def test_the_wall_time_budget_stops_before_the_next_model_call(ctx, sessions) -> None:
    slow = Reply(tool_calls=[("run", {"command": "sleep 3"})])
    async with agent_worker(ctx, agent_max_wall_seconds=2.0):
        row, artifacts, _ = await stopped_run(ctx, sessions, [EDIT, slow, read(1), read(2)])
    assert row.error["code"] == "generation_failed"
    assert "agent wall-time budget exhausted" in row.error["message"]
    assert "of 2 s" in row.error["message"]
    assert ctx["model_server"].turn_answers == {0: 1, 1: 1}  # turn 2 never asked
    assert b"+    return a + b" in artifacts["agent-partial.patch"]


async def test_cancel_stops_the_in_flight_model_call_at_once(ctx, sessions) -> None:
    from domain.contracts import CancelRequest

    server: ScriptedModelServer = ctx["model_server"]
    server.turns, server.hold = [EDIT, read(1)], {1}
    remote = make_remote(ctx["tmp_path"])
    tenant = uuid.uuid4()
    harness = ctx["harness"]
    async with agent_worker(ctx):
        repo_id = await harness.repository(tenant, str(remote), {})
        _, handle = await harness.start(tenant, repo_id, [], title="Fix add", engine="agent")
        assert await asyncio.to_thread(server.held.wait, 60)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await handle.signal("cancel", CancelRequest(reason="enough"))
        outcome = await asyncio.wait_for(handle.result(), 60)
        elapsed = loop.time() - started
        server.release.set()
    assert outcome.state == "cancelled" and elapsed < 10, (outcome, elapsed)
    assert server.turn_answers == {0: 1}
    assert branches(remote) == ["refs/heads/main"]


async def test_a_transient_model_failure_is_retried_not_a_stop(ctx, sessions) -> None:
    server: ScriptedModelServer = ctx["model_server"]
    finish = Reply(tool_calls=[("finish", {"summary": "fixed"})])
    server.turns, server.hold = [EDIT, read(1), finish], {1}
    server.release.set()  # the held request is refused at once with a 503
    remote = make_remote(ctx["tmp_path"])
    tenant = uuid.uuid4()
    harness = ctx["harness"]
    async with agent_worker(ctx):
        repo_id = await harness.repository(
            tenant, str(remote), {"test_command": "python -m pytest -q"}
        )
        execution_id, handle = await harness.start(
            tenant, repo_id, [], title="Fix add", engine="agent"
        )
        outcome = await asyncio.wait_for(handle.result(), 120)
    assert outcome.state == "completed", outcome
    assert server.turn_requests == {0: 1, 1: 2, 2: 1} and server.turn_answers == {0: 1, 1: 1, 2: 1}
    async with UnitOfWork(sessions) as uow:
        events = [e.event_type for e in await uow.events.read_after(execution_id, 0, 1000)]
    assert "step.failed" not in events
    pushed = subprocess.run(
        ["git", "--git-dir", str(remote), "show", f"{outcome.result.commit_sha}:calc.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert "return a + b" in pushed


async def test_cancel_stops_a_running_command_at_once(ctx, sessions) -> None:
    from domain.contracts import CancelRequest

    server: ScriptedModelServer = ctx["model_server"]
    server.turns = [EDIT, Reply(tool_calls=[("run", {"command": "sleep 120"})])]
    remote = make_remote(ctx["tmp_path"])
    tenant = uuid.uuid4()
    harness = ctx["harness"]
    async with agent_worker(ctx):
        repo_id = await harness.repository(tenant, str(remote), {})
        execution_id, handle = await harness.start(tenant, repo_id, [], title="Fix", engine="agent")
        for _ in range(600):  # until turn 1's response is stored: its command is running
            async with UnitOfWork(sessions) as uow:
                rows = await uow.agent_turns.of_execution(tenant, execution_id)
            if len(rows) == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await handle.signal("cancel", CancelRequest(reason="enough"))
        outcome = await asyncio.wait_for(handle.result(), 60)
        elapsed = loop.time() - started
    assert outcome.state == "cancelled" and elapsed < 10, (outcome, elapsed)
    assert rows[1].outcomes is None  # it was still running when cancelled
    assert branches(remote) == ["refs/heads/main"]


async def test_a_long_conversation_is_fitted_into_the_context_window(ctx, sessions) -> None:
    server: ScriptedModelServer = ctx["model_server"]
    big = [
        Reply(tool_calls=[("run", {"command": f"python -c \"print('{n}' * 5000)\""})])
        for n in range(8)
    ]
    finish = Reply(tool_calls=[("finish", {"summary": "fixed"})])
    server.turns = [*big, EDIT, finish]
    remote = make_remote(ctx["tmp_path"])
    tenant = uuid.uuid4()
    harness = ctx["harness"]
    window = 8_000  # tokens; 8 outputs of 5,000 characters are 10,000 tokens on their own
    async with agent_worker(ctx, agent_context_tokens=window):
        repo_id = await harness.repository(
            tenant, str(remote), {"test_command": "python -m pytest -q"}
        )
        _, handle = await harness.start(tenant, repo_id, [], title="Fix add", engine="agent")
        outcome = await asyncio.wait_for(handle.result(), 120)
    assert outcome.state == "completed", outcome
    assert server.turn_answers == {n: 1 for n in range(10)}
    sizes = []
    for req in server.requests:
        body = req["body"]
        sizes.append(len(json.dumps(body["messages"])) + len(json.dumps(body.get("tools", []))))
    # the request stays inside the window, less the 4,000 tokens kept for the answer
    assert max(sizes) // 4 <= window - 4_000, sizes
    last = server.requests[-1]["body"]["messages"]
    assert "Fix add" in last[1]["content"]  # the task stays whole
    tool_results = [m["content"] for m in last if m["role"] == "tool"]
    assert len(tool_results) == 9  # every call still has its result
    assert "7" * 5000 in tool_results[7]  # the latest big output whole
    assert tool_results[0].startswith("exit code 0\n0000") and tool_results[0].endswith(
        " [trimmed]"
    )  # the oldest cut first
    assert sum(len(r) for r in tool_results) < 8 * 5000

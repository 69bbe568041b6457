"""SIGKILL the worker in the middle of an agent conversation: twice between two turns (the
turn before is stored, the next model call is in flight and never answered) and once in
the middle of a tool call (the response is stored, its command is running). The run ends
with the same tree as an undisturbed one, and every scripted turn was answered once."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from domain.contracts import FeatureExecutionOutput
from persistence.uow import UnitOfWork
from tests.chaos.conftest import WorkerProcess, started_attempts, worker_env
from tests.fixtures.real_projects import more_itertools_source  # noqa: F401
from tests.fixtures.registry import FetchedSource
from tests.integration.codegen.model_server import Reply, ScriptedModelServer
from tests.integration.workflow.agent_support import RUN_TEST, git_remote, trajectory

# the turns whose model call is held while the worker is killed, and the slow tool's turn
BOUNDARY_TURNS = (3, 7)
SLOW_TOOL_TURN = 5


def slow_trajectory() -> list[Reply]:
    turns = trajectory()
    turns[SLOW_TOOL_TURN] = Reply(tool_calls=[("run", {"command": f"sleep 6; {RUN_TEST}"})])
    return turns


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.release.set()
    server.stop()


def agent_worker(chaos: Any, server: ScriptedModelServer) -> WorkerProcess:
    env = worker_env(
        chaos.database_url, chaos.temporal.address, chaos.state, chaos.queue, "agent-w"
    )
    env.update(
        BUILDER_LLM_PROVIDER="openai", BUILDER_LLM_MODEL="scripted-1",
        BUILDER_LLM_BASE_URL=server.openai_base_url, BUILDER_LLM_API_KEY="sk-chaos-1",
    )  # fmt: skip
    worker = WorkerProcess(env=env, log=chaos.tmp / "worker-agent.log").start()
    chaos.workers.append(worker)
    return worker


def tree_of(remote: Path, sha: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", f"{sha}^{{tree}}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


async def run_once(chaos: Any, remote: Path, tenant: uuid.UUID) -> tuple[uuid.UUID, Any]:
    repo_id = await chaos.harness.repository(
        tenant, str(remote), {"test_command": "python -m unittest"}
    )
    return await chaos.harness.start(tenant, repo_id, [], title="Add clamped()", engine="agent")


async def tool_running(
    sessions: Any, tenant: uuid.UUID, execution_id: uuid.UUID, turn: int
) -> None:
    """Wait until `turn`'s response is stored and its tools have not finished."""
    for _ in range(1200):
        async with UnitOfWork(sessions) as uow:
            rows = await uow.agent_turns.of_execution(tenant, execution_id)
        if len(rows) > turn:
            assert rows[turn].outcomes is None, "the slow tool finished before the kill"
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"turn {turn} never started")


async def test_agent_survives_kills_between_turns_and_mid_tool_with_the_same_result(
    chaos, sessions, model_server: ScriptedModelServer, tmp_path: Path,
    more_itertools_source: FetchedSource,  # noqa: F811
) -> None:  # fmt: skip
    tenant = uuid.uuid4()
    model_server.turns = slow_trajectory()
    worker = agent_worker(chaos, model_server)

    # undisturbed
    calm_remote = git_remote(more_itertools_source, tmp_path / "calm")
    _, calm = await run_once(chaos, calm_remote, tenant)
    calm_out = await asyncio.wait_for(calm.result(), 240)
    assert calm_out.state == "completed", calm_out
    model_server.turn_requests.clear()
    model_server.turn_answers.clear()

    # disturbed: killed while asking for BOUNDARY_TURN, then inside SLOW_TOOL_TURN's command
    remote = git_remote(more_itertools_source, tmp_path / "killed")
    model_server.hold = set(BOUNDARY_TURNS)
    execution_id, handle = await run_once(chaos, remote, tenant)

    async def kill_at_held_turn() -> WorkerProcess:
        assert await asyncio.to_thread(model_server.held.wait, 120)
        worker.kill()
        model_server.release.set()
        await asyncio.sleep(0.5)  # the held request is refused, to a dead worker
        model_server.held.clear()
        model_server.release.clear()
        return agent_worker(chaos, model_server)

    worker = await kill_at_held_turn()  # turn 3
    await tool_running(sessions, tenant, execution_id, SLOW_TOOL_TURN)
    worker.kill()
    worker = agent_worker(chaos, model_server)
    worker = await kill_at_held_turn()  # turn 7

    handle = chaos.harness.client.get_workflow_handle(
        handle.id,
        result_type=FeatureExecutionOutput,
    )
    outcome = await asyncio.wait_for(handle.result(), 300)
    assert outcome.state == "completed", outcome
    assert tree_of(remote, outcome.result.commit_sha) == tree_of(
        calm_remote, calm_out.result.commit_sha
    )
    turns = range(len(slow_trajectory()))
    # every turn answered once; the held request died with the worker, unanswered
    assert model_server.turn_answers == {n: 1 for n in turns}
    assert model_server.turn_requests == {n: 2 if n in BOUNDARY_TURNS else 1 for n in turns}
    assert await started_attempts(handle, "agent_turn") >= 2
    async with UnitOfWork(sessions) as uow:
        rows = await uow.agent_turns.of_execution(tenant, execution_id)
    # the exploring turns declare (step -1: no task list, so the plan is one step), then step 0
    assert [(r.step_index, r.turn_index) for r in rows] == [(-1, n) for n in range(4)] + [
        (0, n) for n in range(len(turns) - 4)
    ]
    runs = [
        o["content"].split("\n")[0] for r in rows for o in r.outcomes or [] if o["name"] == "run"
    ]
    assert runs == ["exit code 1", "exit code 0"]  # the killed command ran again, same result

"""SIGKILL the worker in the middle of an agent conversation: twice between two turns (the
turn before is stored, the next model call is in flight and never answered) and once in
the middle of a tool call (the response is stored, its command is running). The run ends
with the same commit as an undisturbed one, and every scripted turn was answered once.

Both runs start from one base commit; their commits differ only in what names the run (the
`Builder-Execution` trailer, the timestamps anchored at the run's start), so the killed
run's commits must be, byte for byte, the undisturbed run's commits with that id and start
substituted."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

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


def git(remote: Path, *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), *args], input=stdin,
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


async def started(handle: Any) -> int:
    """The run's start in seconds as the workflow anchors commit timestamps at it
    (`workflow.info().start_time`: the first run's first workflow task)."""
    first = handle._client.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id)
    async for event in first.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            return int(event.event_time.ToDatetime().replace(tzinfo=UTC).timestamp())
    raise AssertionError("no workflow task started")


def as_if_run_by(remote: Path, sha: str, base: str, ids: tuple[str, str], shift: int) -> str:
    """The SHA `sha`'s commits (after `base`) would have with execution id ids[0] replaced
    by ids[1] and every timestamp moved by `shift` seconds: the commit objects re-hashed."""
    parent = {base: base}
    chain = git(remote, "rev-list", "--reverse", f"{base}..{sha}").split()
    for c in chain:
        lines = git(remote, "cat-file", "commit", c).split("\n")
        for n, line in enumerate(lines):
            head = line.split(" ")
            if head[0] == "parent":
                lines[n] = f"parent {parent[head[1]]}"
            elif head[0] in ("author", "committer") and len(head) >= 3:
                lines[n] = " ".join([*head[:-2], str(int(head[-2]) + shift), head[-1]])
            elif not line:
                break
        body = "\n".join(lines).replace(ids[0], ids[1])
        parent[c] = git(remote, "hash-object", "-t", "commit", "--stdin", stdin=body).strip()
    assert chain, "no commit after the base"
    return parent[chain[-1]]


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

    # undisturbed; the disturbed run starts from a copy of the same remote (the same base)
    calm_remote = git_remote(more_itertools_source, tmp_path / "calm")
    remote = tmp_path / "killed.git"
    shutil.copytree(calm_remote, remote)
    base = git(remote, "rev-parse", "main").strip()
    calm_id, calm = await run_once(chaos, calm_remote, tenant)
    calm_out = await asyncio.wait_for(calm.result(), 240)
    assert calm_out.state == "completed", calm_out
    model_server.turn_requests.clear()
    model_server.turn_answers.clear()

    # disturbed: killed while asking for BOUNDARY_TURN, then inside SLOW_TOOL_TURN's command
    model_server.hold = set(BOUNDARY_TURNS)
    execution_id, handle = await run_once(chaos, remote, tenant)
    first_run = handle

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
    shift = await started(first_run) - await started(calm)
    ids = (str(calm_id), str(execution_id))
    expected = as_if_run_by(calm_remote, calm_out.result.commit_sha, base, ids, shift)
    assert outcome.result.commit_sha == expected
    assert git(remote, "rev-parse", f"{expected}^{{tree}}") == git(
        calm_remote, "rev-parse", f"{calm_out.result.commit_sha}^{{tree}}"
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

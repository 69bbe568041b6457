"""An agent-engine execution through the workflow against a scripted model server speaking
each provider's native tool calling, on a real project's source."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from builder.worker import run_worker
from domain.contracts import PlanDecision
from persistence.uow import UnitOfWork
from tests.fixtures.real_projects import more_itertools_source  # noqa: F401
from tests.fixtures.registry import FetchedSource
from tests.integration.codegen.model_server import Reply, ScriptedModelServer
from tests.integration.workflow.agent_support import (
    MORE,
    TASKS,
    commits,
    declared_trajectory,
    git_remote,
    show,
    trajectory,
)
from tests.integration.workflow.conftest import worker_settings
from tests.integration.workflow.test_agent_stops import branches

API_KEY = "sk-agent-planted-5151"


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def agent_worker(
    database_url, temporal_server, harness, model_server, provider, tmp_path
) -> AsyncIterator[None]:
    base = model_server.openai_base_url if provider == "openai" else model_server.anthropic_base_url
    settings = worker_settings(
        database_url, temporal_server, tmp_path / "state", task_queue=harness.task_queue,
        llm_provider=provider, llm_model="scripted-1", llm_base_url=base, llm_api_key=API_KEY,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    await asyncio.sleep(0.5)
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_agent_explores_edits_sees_a_failing_test_fixes_it_and_pushes(
    harness, agent_worker, model_server, provider, sessions, tmp_path,
    more_itertools_source: FetchedSource,  # noqa: F811
) -> None:  # fmt: skip
    remote = git_remote(more_itertools_source, tmp_path)
    model_server.turns = trajectory()
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "python -m unittest"})
    execution_id, handle = await harness.start(
        tenant, repo_id, [], title="Add clamped()", engine="agent"
    )
    outcome = await asyncio.wait_for(handle.result(), 240)
    assert outcome.state == "completed", outcome

    # every scripted turn was asked for exactly once, in the provider's own protocol
    assert model_server.turn_requests == {n: 1 for n in range(len(trajectory()))}
    expected = "/v1/chat/completions" if provider == "openai" else "/v1/messages"
    assert {r["path"] for r in model_server.requests} == {expected}
    last = json.dumps(model_server.requests[-1]["body"]["messages"])
    assert "FAILED" in last or "AssertionError" in last  # the failing run reached the model
    assert "tools" in model_server.requests[0]["body"]

    sha = outcome.result.commit_sha
    assert "min(max(x, low), high)" in show(remote, sha, MORE)
    assert "'clamped'," in show(remote, sha, MORE)
    assert "class ClampedTests" in show(remote, sha, "tests/test_clamped.py")

    async with UnitOfWork(sessions) as uow:
        events = await uow.events.read_after(execution_id, 0, 2000)
        turns = await uow.agent_turns.of_execution(tenant, execution_id)
    assert len(turns) == len(trajectory()) and all(t.outcomes is not None for t in turns)
    runs = [o for t in turns for o in t.outcomes or [] if o["name"] == "run"]
    assert [o["content"].split("\n")[0] for o in runs] == ["exit code 1", "exit code 0"]
    per_turn = [e.payload for e in events if e.event_type == "agent.turn"]
    assert [p["turn"] for p in per_turn] == list(range(len(trajectory())))
    assert all("content" not in json.dumps(p["tools"]) for p in per_turn)
    assert [e.payload["passed"] for e in events if e.event_type == "test.completed"] == [True]
    assert len([e for e in events if e.event_type == "llm.usage"]) == len(trajectory())
    history = (await handle.fetch_history()).to_json()
    assert API_KEY not in history and "class ClampedTests" not in history
    record(provider, "agent", history)


async def test_the_declared_task_list_is_the_plan_and_each_task_is_one_pushed_commit(
    harness, agent_worker, model_server, provider, sessions, tmp_path,
    more_itertools_source: FetchedSource,  # noqa: F811
) -> None:  # fmt: skip
    remote = git_remote(more_itertools_source, tmp_path)
    model_server.turns = declared_trajectory()
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "python -m unittest"})
    execution_id, handle = await harness.start(
        tenant, repo_id, [], title="Add clamped()", engine="agent"
    )
    outcome = await asyncio.wait_for(handle.result(), 240)
    assert outcome.state == "completed", outcome
    assert model_server.turn_requests == {n: 1 for n in range(len(declared_trajectory()))}
    # the declaring turns offered declare_tasks; the task turns do not
    names = [
        {t.get("name") or t.get("function", {}).get("name") for t in r["body"]["tools"]}
        for r in model_server.requests
    ]
    assert "declare_tasks" in names[0] and "declare_tasks" not in names[-1]

    # one commit per declared task, each with the files its turns changed
    delivered = commits(remote, outcome.result.commit_sha)
    assert [paths for _, paths in delivered] == [[MORE], [MORE, "tests/test_clamped.py"]]
    assert "min(max(x, low), high)" in show(remote, outcome.result.commit_sha, MORE)
    # task 1 delivered the first (buggy) version; task 2 its test and the fix
    assert "min(max(x, low), low)" in show(remote, outcome.result.commit_sha + "~1", MORE)

    async with UnitOfWork(sessions) as uow:
        execution = await uow.executions.get(tenant, execution_id)
        changes = await uow.file_changes.list_by_execution(tenant, execution_id)
        turns = await uow.agent_turns.of_execution(tenant, execution_id)
    assert [s["description"] for s in execution.plan["steps"]] == TASKS
    by_step: dict[str, list[str]] = {}
    for c in changes:
        by_step.setdefault(str(c.execution_step_id), []).append(c.file_path)
    assert sorted(by_step.values()) == [[MORE], [MORE, "tests/test_clamped.py"]]
    assert [(t.step_index, t.turn_index) for t in turns] == [
        (-1, 0), (-1, 1), (-1, 2), (-1, 3), (0, 0), (0, 1),
        *((1, n) for n in range(5)),
    ]  # fmt: skip
    record(provider, "agent-tasks", (await handle.fetch_history()).to_json())


@pytest.mark.parametrize("approved", [True, False])
async def test_with_approval_the_agent_declares_first_and_changes_nothing_before_the_decision(
    harness, agent_worker, model_server, provider, sessions, tmp_path, approved: bool,
    more_itertools_source: FetchedSource,  # noqa: F811
) -> None:  # fmt: skip
    remote = git_remote(more_itertools_source, tmp_path)
    early = Reply(tool_calls=[("write_file", {"path": "NOTES.md", "content": "x"})])
    script = declared_trajectory()
    script.insert(1, early)  # an edit before declaring: refused, the model goes on
    model_server.turns = script
    declaring = 5  # list, the refused write, search, read, declare
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "python -m unittest"})
    execution_id, handle = await harness.start(
        tenant, repo_id, [], title="Add clamped()", engine="agent",
        constraints={"require_plan_approval": True},
    )  # fmt: skip
    for _ in range(1200):
        async with UnitOfWork(sessions) as uow:
            events = await uow.events.read_after(execution_id, 0, 2000)
        if any(e.event_type == "plan.approval_requested" for e in events):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the approval was never requested")
    await asyncio.sleep(1)  # nothing more is asked while waiting
    assert model_server.turn_requests == {n: 1 for n in range(declaring)}
    async with UnitOfWork(sessions) as uow:
        execution = await uow.executions.get(tenant, execution_id)
        turns = await uow.agent_turns.of_execution(tenant, execution_id)
    assert [s["description"] for s in execution.plan["steps"]] == TASKS
    refused = turns[1].outcomes[0]
    assert refused["is_error"] and "declare your task list" in refused["content"]
    assert branches(remote) == ["refs/heads/main"]

    decision = PlanDecision(approved=approved, by="ops", reason=None if approved else "no")
    await handle.execute_update("approve_plan", decision)
    outcome = await asyncio.wait_for(handle.result(), 240)
    if not approved:
        assert outcome.state == "cancelled", outcome
        assert model_server.turn_requests == {n: 1 for n in range(declaring)}
        assert branches(remote) == ["refs/heads/main"]  # nothing pushed
        return
    assert outcome.state == "completed", outcome
    assert model_server.turn_requests == {n: 1 for n in range(len(script))}
    delivered = commits(remote, outcome.result.commit_sha)
    assert [paths for _, paths in delivered] == [[MORE], [MORE, "tests/test_clamped.py"]]
    record(provider, "agent-tasks-approval", (await handle.fetch_history()).to_json())


def record(provider: str, name: str, history: str) -> None:
    if provider == "openai" and os.environ.get("BUILDER_RECORD_HISTORIES") == "1":
        (Path(__file__).parents[2] / "histories" / f"{name}.json").write_text(history)

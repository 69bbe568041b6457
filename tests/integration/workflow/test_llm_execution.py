"""An llm-engine execution through the workflow against a scripted model server: plan,
edits, a failing test suite repaired by a repair step, usage recorded as events."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from builder.worker import run_worker
from persistence.uow import UnitOfWork
from tests.integration.codegen.model_server import ScriptedModelServer
from tests.integration.workflow.conftest import worker_settings

API_KEY = "sk-scripted-planted-7777"
CALC = "def add(a, b):\n    return a - b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def fence(path: str, search: str, replace: str) -> str:
    return f"{path}\n```python\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n```\n"


def make_remote(tmp: Path) -> Path:
    work, remote = tmp / "work", tmp / "calc.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "calc.py").write_text(CALC)
    (work / "test_calc.py").write_text(TESTS)
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *env, "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(work), "commit", "-qm", "calc"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(remote), "main"], check=True)
    return remote


@pytest.fixture
def model_server() -> ScriptedModelServer:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def llm_worker(
    database_url, temporal_server, harness, model_server, tmp_path
) -> AsyncIterator[None]:
    settings = worker_settings(
        database_url,
        temporal_server,
        tmp_path / "state",
        task_queue=harness.task_queue,
        llm_provider="openai",
        llm_model="scripted-1",
        llm_base_url=model_server.openai_base_url,
        llm_api_key=API_KEY,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    await asyncio.sleep(0.5)
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


async def test_llm_execution_repairs_a_failing_test_suite_and_records_usage(
    harness, llm_worker, model_server, sessions, tmp_path
) -> None:
    remote = make_remote(tmp_path)
    plan = {"summary": "Add mul", "steps": [
        {"description": "Add a mul function", "type": "modify_file", "target_files": ["calc.py"]},
    ]}  # fmt: skip
    model_server.say(
        json.dumps(plan),
        fence(
            "calc.py", "def add(a, b):\n", "def mul(a, b):\n    return a * b\n\n\ndef add(a, b):\n"
        ),
        fence("calc.py", "    return a - b\n", "    return a + b\n"),
    )
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(remote), {"test_command": "python -m pytest -q"})
    execution_id, handle = await harness.start(tenant, repo_id, [], title="Add mul", engine="llm")
    outcome = await asyncio.wait_for(handle.result(), 120)
    assert outcome.state == "completed", outcome

    async with UnitOfWork(sessions) as uow:
        steps = await uow.steps.get_by_feature_id(tenant, execution_id)
        events = await uow.events.read_after(execution_id, 0, 1000)
    assert [s.description for s in steps] == ["Add a mul function", "repair after test_failed"]
    usage = [e for e in events if e.event_type == "llm.usage"]
    assert len(usage) == 3 and all(e.payload["usage"]["model"] == "scripted-1" for e in usage)
    tests = [e.payload for e in events if e.event_type == "test.completed"]
    assert [t["passed"] for t in tests] == [False, True]
    pushed = subprocess.run(
        ["git", "--git-dir", str(remote), "show", f"{outcome.result.commit_sha}:calc.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "return a * b" in pushed and "return a + b" in pushed
    history = (await handle.fetch_history()).to_json()
    assert API_KEY not in history

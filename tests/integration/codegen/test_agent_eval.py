"""bench/agent_eval.py against the scripted model server: every task passes its hidden
test, and a wrong or missing change fails it (every judge can fail)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_suite_passes_against_the_scripted_server_in_both_protocols() -> None:
    for provider in ("openai", "anthropic"):
        run = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "agent_eval.py"), "--provider", provider],
            capture_output=True, text=True, timeout=600, cwd=ROOT,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "10/10 passed" in run.stdout
        assert run.stdout.count("PASS  ") == 10


def test_a_wrong_change_fails_its_hidden_test(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import agent_eval

    from activities.codegen.agent.loop import AgentLimits
    from activities.codegen.llm.config import LLMConfig
    from activities.sandbox import SandboxRunner
    from tests.integration.codegen.model_server import ScriptedModelServer

    task = next(t for t in agent_eval.TASKS if t.name == "calc: add mul")
    task.script = [
        agent_eval.call("write_file", path="calc.py", content="def mul(a, b):\n    return a + b\n"),
        agent_eval.call("finish", summary="wrong"),
    ]
    server = ScriptedModelServer(turns=task.script)
    server.start()
    try:
        config = LLMConfig(provider="openai", model="m", base_url=server.openai_base_url)
        outcome = agent_eval.run_task(task, config, SandboxRunner(), AgentLimits(), tmp_path)
    finally:
        server.stop()
    assert not outcome.passed and outcome.turns == 2
    assert "AssertionError" in outcome.note


def test_every_hidden_test_fails_on_the_tree_the_agent_starts_from(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import agent_eval

    from activities.codegen.agent.loop import AgentLimits
    from activities.codegen.llm.config import LLMConfig
    from activities.sandbox import SandboxRunner
    from tests.integration.codegen.model_server import ScriptedModelServer

    assert len(agent_eval.TASKS) == 10
    for n, task in enumerate(agent_eval.TASKS):
        idle = [  # an unrelated change, so `finish` is accepted
            agent_eval.call("write_file", path="NOTES.txt", content="looked around\n"),
            agent_eval.call("finish", summary="nothing to do"),
        ]
        server = ScriptedModelServer(turns=idle)
        server.start()
        try:
            config = LLMConfig(provider="openai", model="m", base_url=server.openai_base_url)
            outcome = agent_eval.run_task(
                task, config, SandboxRunner(), AgentLimits(), tmp_path / str(n)
            )
        finally:
            server.stop()
        assert outcome.turns == 2 and not outcome.passed, (task.name, outcome)

"""A small fixed task suite for the `agent` engine, run against any model endpoint.

Each task starts from a real project's source (more-itertools from PyPI, fetched once and
cached like the tests' real projects) or a tiny inline one, gives the agent a request, runs
the agent's loop (the same tools, sandbox, stops and protocols as the engine; no Temporal
or Postgres: this measures the model, the durability is tested elsewhere) and then judges
the result with hidden tests the agent never saw. Prints per task pass/fail, turns, tokens,
cost and wall time, and the totals.

    python bench/agent_eval.py                                   # scripted model server
    python bench/agent_eval.py --base-url http://127.0.0.1:8000/v1 --model m --api-key-env KEY
    python bench/agent_eval.py --provider anthropic --model M --api-key-env ANTHROPIC_API_KEY

Exit status 0 when every task passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _agent_tasks import TASKS, Task, call  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from activities.codegen.agent import loop  # noqa: E402
from activities.codegen.agent.models import build_tool_model  # noqa: E402
from activities.codegen.agent.protocol import Exchange  # noqa: E402
from activities.codegen.agent.tools import TOOLS, ToolBox  # noqa: E402
from activities.codegen.budget import Budget  # noqa: E402
from activities.codegen.engine import FeatureRequest  # noqa: E402
from activities.codegen.llm.config import LLMConfig  # noqa: E402
from activities.phases.agent import fitted  # noqa: E402
from activities.sandbox import SandboxConfig, SandboxRunner  # noqa: E402
from domain.errors import DomainError  # noqa: E402
from domain.values import FeatureConstraints  # noqa: E402
from tests.integration.codegen.model_server import ScriptedModelServer  # noqa: E402

__all__ = ["TASKS", "Task", "call", "main", "run_task"]


@dataclass
class Outcome:
    task: str
    passed: bool
    turns: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    seconds: float
    note: str = ""


def git_init(path: Path) -> None:
    env = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", *env, "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(path), "commit", "-qm", "base"], check=True)


def run_task(task: Task, config: LLMConfig, runner: SandboxRunner, limits: loop.AgentLimits,
             work: Path) -> Outcome:  # fmt: skip
    tree = work / "repo"
    task.source(tree)
    tree.mkdir(parents=True, exist_ok=True)
    git_init(tree)
    request = FeatureRequest(
        title=task.title, description=task.description,
        constraints=FeatureConstraints(forbidden_paths=task.forbidden),
    )  # fmt: skip
    model = build_tool_model(config)
    box = ToolBox(
        root=tree, constraints=request.constraints, runner=runner,
        command_timeout_s=limits.command_timeout_s, output_chars=limits.output_chars,
    )  # fmt: skip
    budget = Budget(max_tokens=config.max_tokens_budget, max_cost_usd=config.max_cost_usd)
    history: list[Exchange] = []
    started = time.monotonic()
    note = ""
    tokens_in = tokens_out = 0
    try:
        while True:
            loop.check_before_call(len(history), time.monotonic() - started, limits)
            task_text = loop.task_prompt(request)
            visible, estimate, wanted = fitted(limits, config, task_text, history)  # as the engine
            max_tokens = budget.output_allowance(
                estimate + 200, wanted, config.price_input_per_1k, config.price_output_per_1k
            )
            turn = model.respond(loop.SYSTEM, task_text, visible, TOOLS, max_tokens)
            tokens_in += turn.input_tokens
            tokens_out += turn.output_tokens
            budget.spent_tokens += turn.input_tokens + turn.output_tokens
            budget.spent_cost_usd += config.cost_usd(turn.input_tokens, turn.output_tokens)
            calls = sorted(turn.tool_calls, key=lambda c: c.name == "finish")
            exchange = Exchange(turn=turn, outcomes=[box.run(c) for c in calls])
            history.append(exchange)
            if loop.finished(exchange) is not None:
                break
            loop.check_after_turn(history, limits)
    except DomainError as err:
        note = err.message[:100]
    passed = False
    if not note:
        (tree / "_hidden_test.py").write_text(task.hidden_test)
        judged = runner.run("python _hidden_test.py", tree, timeout_s=120)
        passed = judged.exit_code == 0 and not judged.timed_out
        note = (
            ""
            if passed
            else judged.output.strip().splitlines()[-1][:100]
            if judged.output
            else "failed"
        )
    return Outcome(task.name, passed, len(history), tokens_in, tokens_out,
                   round(budget.spent_cost_usd, 4), time.monotonic() - started, note)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="model endpoint (default: a scripted model server)")
    parser.add_argument("--model", default="scripted-1")
    parser.add_argument("--api-key-env", help="environment variable holding the API key")
    parser.add_argument("--provider", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--price-in", type=float, default=0.0, help="USD per 1k input tokens")
    parser.add_argument("--price-out", type=float, default=0.0, help="USD per 1k output tokens")
    parser.add_argument("--max-turns", type=int, default=30)
    parser.add_argument("--max-cost-usd", type=float, default=None)
    parser.add_argument("--context-tokens", type=int, default=100_000, help="the model's window")
    parser.add_argument("--unsandboxed", action="store_true", help="no bubblewrap (dev only)")
    parser.add_argument("--only", help="run the tasks whose name contains this")
    args = parser.parse_args()

    key = os.environ.get(args.api_key_env, "") if args.api_key_env else ""
    if args.api_key_env and not key:
        print(f"error: ${args.api_key_env} is not set", file=sys.stderr)
        return 2
    runner = SandboxRunner(SandboxConfig(allow_unsandboxed=args.unsandboxed))
    limits = loop.AgentLimits(
        max_turns=args.max_turns, command_timeout_s=120, context_tokens=args.context_tokens or None
    )
    tasks = [t for t in TASKS if not args.only or args.only in t.name]
    outcomes: list[Outcome] = []
    for task in tasks:
        server = None
        base_url = args.base_url
        if base_url is None:
            server = ScriptedModelServer(turns=task.script)
            server.start()
            base_url = (
                server.openai_base_url if args.provider == "openai" else server.anthropic_base_url
            )
        config = LLMConfig(
            provider=args.provider, model=args.model, base_url=base_url,
            api_key=SecretStr(key) if key else None, price_input_per_1k=args.price_in,
            price_output_per_1k=args.price_out, max_cost_usd=args.max_cost_usd,
            timeout_seconds=300,
        )  # fmt: skip
        work = Path(tempfile.mkdtemp(prefix="agent-eval-"))
        try:
            outcomes.append(run_task(task, config, runner, limits, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
            if server is not None:
                server.stop()
        o = outcomes[-1]
        print(f"{'PASS' if o.passed else 'FAIL'}  {o.task:<32} turns {o.turns:>3}  tokens "
              f"{o.input_tokens:>7}/{o.output_tokens:<6} ${o.cost_usd:<8.4f} {o.seconds:6.1f} s"
              f"  {o.note}", flush=True)  # fmt: skip
    passed = sum(o.passed for o in outcomes)
    print(f"\n{passed}/{len(outcomes)} passed; turns {sum(o.turns for o in outcomes)}, tokens "
          f"{sum(o.input_tokens for o in outcomes)} in / {sum(o.output_tokens for o in outcomes)} "
          f"out, ${sum(o.cost_usd for o in outcomes):.4f}, "
          f"{sum(o.seconds for o in outcomes):.1f} s")  # fmt: skip
    return 0 if passed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

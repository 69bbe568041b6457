"""Recorded histories replay with the production worker's workflow runner.

tests/histories/ holds one history per path through the workflow (re-record them with
BUILDER_RECORD_HISTORIES=1 and the workflow tests); `v0-*` are histories of the version
before the phase split, `*-pre-tasks` agent runs from before the agent declared its task
list (`agent-tasks` patch) and `*-pre-carried` runs from before phase activities recorded
the state change that follows them (`state-with-activity` patch) and `*-pre-together` runs
from before a spec plan's steps ran in one activity (`spec-steps-together` patch) and
`*-pre-baseline` runs from before a new run recorded one marker for all the patches
(workflows/patches.py), kept to prove that runs started by them still replay (see
docs/operations.md, "Changing the workflow").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from builder.worker import PASSTHROUGH_MODULES, workflow_runner
from workflows.feature_execution import FeatureExecutionWorkflow
from workflows.patches import BASELINES

ROOT = Path(__file__).resolve().parents[2]
HISTORY_DIR = ROOT / "tests" / "histories"
BASELINE = BASELINES[0][0]  # the marker a run recorded by this code carries
HISTORIES = sorted(HISTORY_DIR.glob("*.json"))
PATHS = {
    "spec", "llm-repair", "agent", "agent-continue", "approval", "lock-wait", "timeout",
    "cancel", "worker-move", "tenant-limit-wait", "pull-request", "skip-verify",
    "agent-tasks", "agent-tasks-approval",
}  # fmt: skip


def test_every_path_through_the_workflow_has_a_recorded_history() -> None:
    names = {p.stem for p in HISTORIES}
    assert names >= PATHS
    assert {"v0-completed", "v0-failed", "v0-cancelled"} <= names
    assert {"agent-pre-tasks", "agent-continue-pre-tasks", "agent-continued-pre-tasks"} <= names
    current = PATHS | {"agent-continued", "e2e-completed", "e2e-failed", "e2e-cancelled"}
    assert {f"{name}-pre-baseline" for name in current} <= names
    for name in current:  # recorded by this code: its one marker stands for every patch
        assert _patches(HISTORY_DIR / f"{name}.json") == {BASELINE}
        assert BASELINE not in _patches(HISTORY_DIR / f"{name}-pre-baseline.json")
    carried = {"spec", "approval", "cancel", "lock-wait", "agent-tasks", "tenant-limit-wait"}
    assert {f"{name}-pre-carried" for name in carried} <= names
    for name in carried:  # the patch's own marker before the baseline, none before the patch
        assert "state-with-activity" in _patches(HISTORY_DIR / f"{name}-pre-baseline.json")
        assert "state-with-activity" not in _patches(HISTORY_DIR / f"{name}-pre-carried.json")
    together = {
        "spec", "worker-move", "approval", "cancel", "lock-wait", "pull-request", "skip-verify",
        "tenant-limit-wait", "timeout",
    }  # fmt: skip
    for name in together:
        assert "spec-steps-together" in _patches(HISTORY_DIR / f"{name}-pre-baseline.json")
        assert "spec-steps-together" not in _patches(HISTORY_DIR / f"{name}-pre-together.json")


def test_a_run_upserts_its_search_attributes_only_where_its_start_did_not_set_them() -> None:
    # e2e-completed started through the API, which sets them; spec through the client alone
    for name, started_with_them in (("e2e-completed", True), ("spec", False)):
        history = WorkflowHistory.from_json(name, (HISTORY_DIR / f"{name}.json").read_text())
        start = history.events[0].workflow_execution_started_event_attributes
        assert ("BuilderTenantId" in start.search_attributes.indexed_fields) is started_with_them
        upserted = [
            set(
                e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            )
            for e in history.events
            if e.HasField("upsert_workflow_search_attributes_event_attributes")
        ]
        assert any("BuilderTenantId" in keys for keys in upserted) is not started_with_them
        assert sum("TemporalChangeVersion" in keys for keys in upserted) == 1  # the baseline's


def _patches(path: Path) -> set[str]:
    """The patch ids a history's markers record."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    return {
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_with_the_production_runner(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[FeatureExecutionWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    await replayer.replay_workflow(history)


def test_only_domain_and_third_party_modules_pass_through_the_sandbox() -> None:
    ours = {"activities", "api", "builder", "persistence", "workflows"}
    assert not ours & {m.split(".")[0] for m in PASSTHROUGH_MODULES}


_REPLAY = """
import asyncio, os, sys
sys.path.insert(0, sys.argv[1])
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
import workflows.feature_execution as fe
assert fe.__file__.startswith(sys.argv[1]), fe.__file__
from builder.worker import workflow_runner
runner = workflow_runner()
if sys.argv[3] == "workflows-passed-through":
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("domain", "workflows")
    )
history = WorkflowHistory.from_json("h", open(sys.argv[2]).read())
replayer = Replayer(
    workflows=[fe.FeatureExecutionWorkflow], data_converter=pydantic_data_converter,
    workflow_runner=runner,
)
# the outcome is decided before interpreter teardown, where the SDK core's native threads
# can crash the process (SIGSEGV seen in CI after REPLAY FAILED was printed): leave at once
try:
    asyncio.run(replayer.replay_workflow(history))
except Exception as err:
    print("REPLAY FAILED:", type(err).__name__, err, flush=True)
    os._exit(3)
print("REPLAYED", flush=True)
os._exit(0)
"""


def _replay_injected(tmp_path: Path, runner: str) -> subprocess.CompletedProcess[str]:
    """Replay the spec history in a fresh interpreter whose `workflows` package calls
    datetime.now() at the top of the run (host and sandbox both import that copy)."""
    copy = tmp_path / "injected"
    shutil.copytree(
        ROOT / "workflows", copy / "workflows", ignore=shutil.ignore_patterns("__pycache__")
    )
    module = copy / "workflows" / "feature_execution.py"
    source = module.read_text()
    marker = "        wanted = [\n            sa.TENANT.value_set(inp.tenant_id),"
    assert marker in source
    source = source.replace(marker, "        _clock.now()\n" + marker, 1)
    source = source.replace(
        "import asyncio\n", "import asyncio\nfrom datetime import datetime as _clock\n", 1
    )
    module.write_text(source)
    script = tmp_path / "replay.py"
    script.write_text(textwrap.dedent(_REPLAY))
    history = ROOT / "tests" / "histories" / "spec.json"
    return subprocess.run(
        [sys.executable, str(script), str(copy), str(history), runner],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        # this checkout's `domain`, not whichever one the environment installed
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def test_a_non_deterministic_call_in_the_workflow_fails_replay_with_the_production_runner(
    tmp_path: Path,
) -> None:
    production = _replay_injected(tmp_path / "a", "production")
    assert production.returncode == 3, production.stdout + production.stderr
    assert "REPLAY FAILED" in production.stdout
    assert "datetime" in production.stdout + production.stderr
    # the control: the same injected code replays cleanly once `workflows` passes through,
    # which is exactly the check the production runner must not switch off
    passed_through = _replay_injected(tmp_path / "b", "workflows-passed-through")
    assert passed_through.returncode == 0, passed_through.stdout + passed_through.stderr


def test_a_newer_baseline_in_front_still_replays_the_runs_of_the_older_one_and_before(
    tmp_path: Path,
) -> None:
    """The way docs/operations.md says a baseline is added: a new entry at the front."""
    copy = tmp_path / "next"
    shutil.copytree(
        ROOT / "workflows", copy / "workflows", ignore=shutil.ignore_patterns("__pycache__")
    )
    module = copy / "workflows" / "patches.py"
    source = module.read_text()
    assert "\nBASELINES: " in source
    module.write_text(
        source
        + '\nBASELINES = (("baseline-next", BASELINES[0][1] | {"a-later-patch"}), *BASELINES)\n'
    )
    script = tmp_path / "replay.py"
    script.write_text(textwrap.dedent(_REPLAY))
    for name in ("spec", "spec-pre-baseline", "agent-continued"):
        done = subprocess.run(
            [sys.executable, str(script), str(copy), str(HISTORY_DIR / f"{name}.json"),
             "production"],
            capture_output=True, text=True, cwd=ROOT, timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert done.returncode == 0, (name, done.stdout + done.stderr)
        assert "REPLAYED" in done.stdout


def test_histories_of_this_version_carry_no_command_output() -> None:
    # a failed build's output is an artifact (build.log): none of it may enter a history
    for path in HISTORIES:
        if not path.stem.startswith("v0-"):
            assert "log_tail" not in path.read_text(), path.stem

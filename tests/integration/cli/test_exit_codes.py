"""Every exit code of `builder`, for real: the CLI as a subprocess against the API served on
a port with a worker beside it, a key that does not exist, a port nobody listens on, an API
whose Temporal is down, a run that fails and one that completes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.admin import create_api_key
from builder.cli.exits import ExitCode
from builder.stack.ports import free_port
from builder.stack.temporal import TemporalDevServer
from tests.fixtures.git_servers import BareRemoteFactory
from tests.fixtures.served_api import running_worker, served_api, stack_settings

CLI = [sys.executable, "-m", "builder.cli"]
WRITE = json.dumps({"op": "write_file", "path": "docs/hello.md", "content": "hello\n"})
GHOST = json.dumps({"op": "delete_file", "path": "does-not-exist.txt"})


@dataclass(frozen=True)
class Stack:
    api_url: str
    api_key: str
    repo: str  # name of a registered repository

    async def cli(self, *args: str, key: str | None = None, url: str | None = None) -> Result:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
        env.update(
            BUILDER_API_URL=url or self.api_url,
            BUILDER_API_KEY=key or self.api_key,
            PYTHONPATH=str(Path.cwd()),
        )
        done = await asyncio.to_thread(
            subprocess.run, [*CLI, *args], env=env, capture_output=True, text=True, timeout=180
        )
        return Result(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def one_line_error(self) -> str:
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("builder: "), self.err
        return lines[0]


@pytest.fixture(scope="module")
async def stack(
    database_url: str,
    temporal_server: TemporalDevServer,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("cli-stack")
    settings = stack_settings(database_url, temporal_server.address, root / "state")
    _id, key = await create_api_key(sessions, uuid.uuid4(), "cli tests")
    async with running_worker(settings):
        with served_api(settings) as url:
            yield Stack(url, key, "")


@pytest.fixture
async def repo(stack: Stack, bare_remote: BareRemoteFactory) -> Stack:
    name = f"demo-{uuid.uuid4().hex[:6]}"
    added = await stack.cli("repos", "add", name, f"file://{bare_remote(files=2)}")
    assert added.code == ExitCode.OK, added.err
    return Stack(stack.api_url, stack.api_key, name)


def _run_args(repo: str, change: str) -> list[str]:
    return [
        "run", repo, "--title", "Add a hello page", "--description", "Adds docs/hello.md",
        "--change", change, "--wait",
    ]  # fmt: skip


async def test_a_completed_run_exits_0_and_a_failed_one_exits_1(repo: Stack) -> None:
    ok = await repo.cli(*_run_args(repo.repo, WRITE), "--output", "jsonl")
    assert ok.code == ExitCode.OK, ok.err
    assert json.loads(ok.out.strip().splitlines()[-1])["state"] == "completed"
    assert "started execution" in ok.err  # progress goes to stderr in machine modes

    failed = await repo.cli(*_run_args(repo.repo, GHOST))
    assert failed.code == ExitCode.RUN_FAILED == 1, failed.out + failed.err
    assert " failed: " in failed.one_line_error()


async def test_bad_input_exits_2_and_sends_nothing_that_changes_state(repo: Stack) -> None:
    before = await repo.cli("executions", "list", "--repository", repo.repo, "--output", "json")
    assert before.code == ExitCode.OK, before.err

    refused = await repo.cli("repos", "add", "x" * 300, "file:///nowhere.git")
    assert refused.code == ExitCode.USAGE
    assert refused.one_line_error().startswith("builder: Validation failed")

    local = await repo.cli("run", repo.repo, "--title", "t", "--description", "ten chars!!")
    assert local.code == ExitCode.USAGE
    assert "the spec engine needs declared changes" in local.one_line_error()

    bad_branch = await repo.cli(
        "run", repo.repo, "--title", "Add a hello page", "--description", "Adds a page",
        "--change", WRITE, "--target-branch", "bad..branch",
    )  # fmt: skip
    assert bad_branch.code == ExitCode.USAGE
    assert "target_branch" in bad_branch.one_line_error()

    unknown_flag = await repo.cli("executions", "list", "--state", "exploded")
    assert unknown_flag.code == ExitCode.USAGE

    after = await repo.cli("executions", "list", "--repository", repo.repo, "--output", "json")
    assert json.loads(after.out) == json.loads(before.out)


async def test_an_unknown_api_key_exits_3(stack: Stack) -> None:
    result = await stack.cli("executions", "list", key="bld_not-a-real-key")
    assert result.code == ExitCode.AUTH == 3
    assert "Unauthorized" in result.one_line_error()


async def test_a_missing_execution_or_repository_exits_4(stack: Stack) -> None:
    missing = await stack.cli("status", str(uuid.uuid4()))
    assert missing.code == ExitCode.NOT_FOUND == 4
    assert "Not found" in missing.one_line_error()
    no_repo = await stack.cli("executions", "list", "--repository", "no-such-repository")
    assert no_repo.code == ExitCode.NOT_FOUND


async def test_an_unreachable_api_exits_5(stack: Stack) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = await stack.cli("executions", "list", url=url)
    assert result.code == ExitCode.UNAVAILABLE == 5
    assert f"cannot reach the API at {url}" in result.one_line_error()


async def test_an_api_whose_temporal_is_down_exits_5(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    bare_remote: BareRemoteFactory,
    tmp_path: Path,
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    settings = stack_settings(database_url, dead, tmp_path / "state")
    _id, key = await create_api_key(sessions, uuid.uuid4(), "no temporal")
    with served_api(settings) as url:
        stack = Stack(url, key, "")
        added = await stack.cli("repos", "add", "demo", f"file://{bare_remote(files=1)}")
        assert added.code == ExitCode.OK, added.err
        result = await stack.cli(*_run_args("demo", WRITE))
    assert result.code == ExitCode.UNAVAILABLE
    assert "Service unavailable" in result.one_line_error()


async def test_cancelling_an_ended_execution_exits_6(repo: Stack) -> None:
    ok = await repo.cli(*_run_args(repo.repo, WRITE), "--json")
    assert ok.code == ExitCode.OK, ok.err
    execution_id = json.loads(ok.out)["id"]
    again = await repo.cli("cancel", execution_id)
    assert again.code == ExitCode.CONFLICT == 6
    assert "already ended" in again.one_line_error()

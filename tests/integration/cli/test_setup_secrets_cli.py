"""`builder repos secrets set|list|delete` as a subprocess against the API on a port: the value
from stdin and from a no-echo prompt on a terminal, stored exactly as given, never printed;
every exit code the commands have (docs/cli.md)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.admin import create_api_key
from builder.cli.exits import ExitCode
from builder.deps import keyring_of
from builder.settings import Settings
from builder.stack.ports import free_port
from persistence.setup_secrets import SetupSecrets
from tests.fixtures.git_servers import BareRemoteFactory
from tests.fixtures.served_api import served_api, stack_settings

ROOT = Path(__file__).resolve().parents[3]
VALUE = "index-token-5d1c9a7e3b"


@dataclass(frozen=True)
class Api:
    url: str
    key: str
    settings: Settings

    def env(self, **extra: str) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
        return {**clean, "PYTHONPATH": str(ROOT), "BUILDER_API_URL": self.url,
                "BUILDER_API_KEY": self.key, **extra}  # fmt: skip

    def run(self, *args: str, stdin: str = "", **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "builder.cli", *args], input=stdin, env=self.env(**extra),
            capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("builder: "), result.stderr
    return lines[0]


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    settings = stack_settings(database_url, "127.0.0.1:1", tmp_path / "state")
    with served_api(settings) as url:
        yield Api(url, "", settings)


async def _keyed(api: Api, sessions: async_sessionmaker[AsyncSession]) -> tuple[Api, uuid.UUID]:
    tenant = uuid.uuid4()
    _id, key = await create_api_key(sessions, tenant, "secrets cli")
    return Api(api.url, key, api.settings), tenant


async def _stored(
    api: Api, sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, repo_id: str
) -> dict[str, str]:
    async with sessions() as session:
        return await SetupSecrets(session, keyring_of(api.settings)).load(
            tenant, uuid.UUID(repo_id)
        )


def _prompted(api: Api, *args: str, answer: str) -> tuple[int, str, str]:
    """The CLI with a terminal as stdin and stderr (where getpass prompts): waits for the
    prompt, types `answer`; returns the exit code, stdout and everything the terminal showed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "builder.cli", *args], stdin=slave, stdout=subprocess.PIPE,
        stderr=slave, env=api.env(), cwd=ROOT, text=True, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + 60
    typed = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if not typed and b"not echoed" in shown:
                time.sleep(0.2)  # getpass has switched echo off once it prompted
                os.write(master, answer.encode() + b"\r")
                typed = True
            if proc.poll() is not None and not ready:
                break
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, shown.decode(errors="replace")


async def test_set_list_delete_keep_the_value_off_screen_and_stored_exactly(
    api: Api, sessions: async_sessionmaker[AsyncSession], bare_remote: BareRemoteFactory
) -> None:
    api, tenant = await _keyed(api, sessions)
    added = await asyncio.to_thread(api.run, "repos", "add", "demo", f"file://{bare_remote()}",
                                    "--json")  # fmt: skip
    assert added.returncode == ExitCode.OK, added.stderr
    repo_id = json.loads(added.stdout)["id"]

    piped = await asyncio.to_thread(
        api.run, "repos", "secrets", "set", "demo", "INDEX_TOKEN", stdin=VALUE + "\n"
    )
    assert piped.returncode == ExitCode.OK, piped.stderr
    assert piped.stdout.strip() == "stored setup secret INDEX_TOKEN for demo"
    assert VALUE not in piped.stdout + piped.stderr

    code, out, shown = await asyncio.to_thread(
        _prompted, api, "repos", "secrets", "set", repo_id, "PROMPTED", answer=VALUE + "-typed"
    )
    assert code == ExitCode.OK, shown
    assert "value of PROMPTED (not echoed):" in shown and VALUE not in shown + out
    assert out.strip() == "stored setup secret PROMPTED for demo"

    # the trailing line break of stdin and the terminal's Enter are not part of the value
    assert await _stored(api, sessions, tenant, repo_id) == {
        "INDEX_TOKEN": VALUE, "PROMPTED": VALUE + "-typed",
    }  # fmt: skip

    listed = await asyncio.to_thread(api.run, "repos", "secrets", "list", "demo")
    assert listed.returncode == ExitCode.OK, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["INDEX_TOKEN", "PROMPTED"]
    as_json = await asyncio.to_thread(api.run, "repos", "secrets", "list", "demo", "--json")
    assert [s["name"] for s in json.loads(as_json.stdout)] == ["INDEX_TOKEN", "PROMPTED"]
    assert VALUE not in listed.stdout + as_json.stdout

    deleted = await asyncio.to_thread(api.run, "repos", "secrets", "delete", "demo", "PROMPTED")
    assert deleted.returncode == ExitCode.OK, deleted.stderr
    assert deleted.stdout.strip() == "deleted setup secret PROMPTED of demo"
    assert list(await _stored(api, sessions, tenant, repo_id)) == ["INDEX_TOKEN"]

    again = await asyncio.to_thread(api.run, "repos", "secrets", "delete", "demo", "PROMPTED")
    assert again.returncode == ExitCode.NOT_FOUND == 4
    assert "has no setup secret PROMPTED" in one_line(again)

    last = await asyncio.to_thread(api.run, "repos", "secrets", "delete", "demo", "INDEX_TOKEN")
    assert last.returncode == ExitCode.OK, last.stderr
    empty = await asyncio.to_thread(api.run, "repos", "secrets", "list", "demo")
    assert empty.stdout.strip() == "no setup secrets for demo"


async def test_each_exit_code_and_no_value_in_any_error(
    api: Api, sessions: async_sessionmaker[AsyncSession], bare_remote: BareRemoteFactory
) -> None:
    api, tenant = await _keyed(api, sessions)
    added = await asyncio.to_thread(api.run, "repos", "add", "demo", f"file://{bare_remote()}",
                                    "--json")  # fmt: skip
    repo_id = json.loads(added.stdout)["id"]

    def refused(*args: str, stdin: str = VALUE, **extra: str) -> tuple[int, str]:
        result = api.run("repos", "secrets", *args, stdin=stdin, **extra)
        assert result.stdout == "", result.stdout
        line = one_line(result)
        assert VALUE not in line
        return result.returncode, line

    cases = [
        # 2: refused before anything is read or sent
        (("set", "demo", "9LIVES"), VALUE, ExitCode.USAGE, "environment variable name"),
        (("set", "demo", "A/B"), VALUE, ExitCode.USAGE, "environment variable name"),
        (("set", "demo", "EMPTY"), "\n", ExitCode.USAGE, "no value for EMPTY"),
        (("set", "demo", "HUGE"), VALUE * 1000, ExitCode.USAGE, "longer than 8192 bytes"),
        (("set", "demo", "TOKEN", VALUE), VALUE, ExitCode.USAGE, "never an argument"),
        (("set", "demo", "TOKEN", f"--value={VALUE}"), VALUE, ExitCode.USAGE, "not repeated"),
        # 2: the API refuses a name the sandbox sets itself, naming the field
        (("set", "demo", "PATH"), VALUE, ExitCode.USAGE, "name: this variable is set by"),
        # 4: no such repository (by name, and another tenant's by id), no such secret
        (("set", "nowhere", "TOKEN"), VALUE, ExitCode.NOT_FOUND, "no repository named"),
        (("list", "nowhere"), "", ExitCode.NOT_FOUND, "no repository named"),
        (("delete", "demo", "NEVER_SET"), "", ExitCode.NOT_FOUND, "has no setup secret"),
    ]
    for args, stdin, code, message in cases:
        got, line = await asyncio.to_thread(refused, *args, stdin=stdin)
        assert (got, message in line) == (code, True), (args, line)

    other, _ = await _keyed(api, sessions)
    foreign = await asyncio.to_thread(other.run, "repos", "secrets", "list", repo_id)
    assert foreign.returncode == ExitCode.NOT_FOUND, foreign.stderr

    # 3: an API key the API does not know; 5: nobody listening
    got, line = await asyncio.to_thread(
        refused, "set", "demo", "TOKEN", BUILDER_API_KEY="bld_not-a-real-key"
    )
    assert got == ExitCode.AUTH == 3 and "Unauthorized" in line
    dead = f"http://127.0.0.1:{free_port()}"
    got, line = await asyncio.to_thread(refused, "list", "demo", BUILDER_API_URL=dead)
    assert got == ExitCode.UNAVAILABLE == 5 and "cannot reach the API" in line

    # nothing of the refused calls was stored
    assert await _stored(api, sessions, tenant, repo_id) == {}

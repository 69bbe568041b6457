"""`builder tenants show|limit` against a real Postgres: what it prints and every exit code
(docs/cli.md): bad input 2, no database configured 2, an unmigrated database 2, an
unreachable database 5 (without echoing its URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from builder.cli.exits import ExitCode
from builder.stack.ports import free_port
from tests.fixtures.postgres import create_database, drop_database

ROOT = Path(__file__).resolve().parents[3]


def builder(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    return subprocess.run(
        [sys.executable, "-m", "builder.cli", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("builder: "), result.stderr
    return lines[0]


def test_a_limit_is_set_shown_made_unlimited_and_reset_to_the_default(database_url: str) -> None:
    env = {"BUILDER_DATABASE_URL": database_url, "BUILDER_TENANT_MAX_CONCURRENT_EXECUTIONS": "4"}
    tenant = str(uuid.uuid4())

    shown = builder("tenants", "show", tenant, "--json", env=env)
    assert shown.returncode == ExitCode.OK, shown.stderr
    assert json.loads(shown.stdout) == {
        "tenant_id": tenant, "limit": 4, "source": "default", "default": 4,
        "running": 0, "waiting": 0,
    }  # fmt: skip

    set_ = builder("tenants", "limit", tenant, "2", env=env)
    assert set_.returncode == ExitCode.OK, set_.stderr
    assert set_.stdout.strip() == f"tenant {tenant}: limit 2 (tenant), 0 running, 0 waiting"

    unlimited = builder("tenants", "limit", tenant, "none", "--json", env=env)
    assert unlimited.returncode == ExitCode.OK, unlimited.stderr
    assert json.loads(unlimited.stdout)["limit"] is None
    assert json.loads(unlimited.stdout)["source"] == "tenant"

    reset = builder("tenants", "limit", tenant, "default", "--json", env=env)
    assert reset.returncode == ExitCode.OK, reset.stderr
    assert json.loads(reset.stdout)["limit"] == 4
    assert json.loads(reset.stdout)["source"] == "default"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["tenants", "limit", "not-a-uuid", "2"], "tenant must be a UUID"),
        (["tenants", "limit", str(uuid.uuid4()), "-1"], "a positive integer or 'none'"),
        (["tenants", "limit", str(uuid.uuid4()), "lots"], "a positive integer or 'none'"),
        (["tenants", "limit", str(uuid.uuid4())], "required"),
        (["tenants", "show"], "required"),
        (["tenants"], "required"),
    ],
)
def test_bad_input_is_one_line_and_exits_with_the_usage_code(
    database_url: str, args: list[str], says: str
) -> None:
    result = builder(*args, env={"BUILDER_DATABASE_URL": database_url})
    assert result.returncode == ExitCode.USAGE
    assert says in one_line(result)


def test_no_database_configured_is_a_usage_error(tmp_path: Path) -> None:
    result = builder(
        "tenants", "limit", str(uuid.uuid4()), "2", env={"BUILDER_STATE_DIR": str(tmp_path)}
    )
    assert result.returncode == ExitCode.USAGE
    assert "no database configured" in one_line(result)


def test_an_unmigrated_database_says_to_migrate(postgres_server_url: str) -> None:
    url = create_database(postgres_server_url)
    try:
        result = builder("tenants", "show", str(uuid.uuid4()), env={"BUILDER_DATABASE_URL": url})
    finally:
        drop_database(postgres_server_url, url)
    assert result.returncode == ExitCode.USAGE
    assert "run `builder migrate`" in one_line(result)


def test_an_unreachable_database_is_unavailable_and_its_url_is_not_echoed() -> None:
    url = f"postgresql://builder:s3cret-pw@127.0.0.1:{free_port()}/builder"
    result = builder("tenants", "limit", str(uuid.uuid4()), "3", env={"BUILDER_DATABASE_URL": url})
    assert result.returncode == ExitCode.UNAVAILABLE
    line = one_line(result)
    assert "cannot reach the database" in line
    assert "s3cret-pw" not in result.stderr + result.stdout

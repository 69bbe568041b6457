"""Operator commands against a real Postgres: migrate, API keys, vault key rotation."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from domain.enums import CredentialType
from domain.values import CredentialData
from persistence.credentials import CredentialRepository
from persistence.db import create_engine, session_factory
from persistence.tables import CredentialRow, RepositoryRow
from persistence.vault import Keyring
from tests.fixtures.postgres import create_database, drop_database


def builder(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BUILDER_")}
    return subprocess.run(
        [sys.executable, "-m", "builder.cli", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh_database(postgres_server_url: str):
    url = create_database(postgres_server_url)
    yield url
    drop_database(postgres_server_url, url)


def _tables(url: str) -> set[str]:
    async def go() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
            return {r["tablename"] for r in rows}
        finally:
            await conn.close()

    return asyncio.run(go())


def test_migrate_creates_the_schema_and_says_so(fresh_database: str) -> None:
    result = builder("migrate", env={"BUILDER_DATABASE_URL": fresh_database})
    assert result.returncode == 0, result.stderr
    assert "database migrated to head" in result.stdout
    assert {"feature_executions", "execution_events", "api_keys"} <= _tables(fresh_database)


def test_migrate_without_a_database_is_a_one_line_error(tmp_path: Path) -> None:
    result = builder("migrate", env={"BUILDER_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2  # usage: the configuration is missing
    assert result.stderr.strip().splitlines() == [
        "builder: no database configured: set BUILDER_DATABASE_URL (or use `builder dev`)"
    ]


def test_api_keys_are_created_once_listed_and_revoked(database_url: str) -> None:
    env = {"BUILDER_DATABASE_URL": database_url}
    tenant = str(uuid.uuid4())
    created = builder("keys", "create", "--tenant", tenant, "--name", "ci bot", "--json", env=env)
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["key"].startswith("bld_")
    listed = builder("keys", "list", "--tenant", tenant, "--json", env=env)
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["ci bot"]
    assert key["key"] not in listed.stdout
    revoked = builder("keys", "revoke", "--tenant", tenant, key["id"], env=env)
    assert revoked.returncode == 0, revoked.stderr
    bad = builder("keys", "create", "--tenant", "not-a-uuid", "--name", "x", env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("builder: tenant must be a UUID")


def test_keys_rotate_rewraps_every_credential_under_the_new_primary(fresh_database: str) -> None:
    assert builder("migrate", env={"BUILDER_DATABASE_URL": fresh_database}).returncode == 0
    old = "old:" + base64.b64encode(os.urandom(32)).decode()
    new = "new:" + base64.b64encode(os.urandom(32)).decode()
    tenant = uuid.uuid4()

    async def plant() -> uuid.UUID:
        engine = create_engine(fresh_database)
        try:
            async with session_factory(engine)() as session:
                repo = RepositoryRow(tenant_id=tenant, name="r", url="https://example.com/r.git")
                session.add(repo)
                await session.flush()
                await CredentialRepository(session, Keyring.parse(old)).set_credential(
                    tenant, repo.id, CredentialType.TOKEN, CredentialData(token="tok-rotate-me")
                )
                await session.commit()
                return repo.id
        finally:
            await engine.dispose()

    repo_id = asyncio.run(plant())
    env = {"BUILDER_DATABASE_URL": fresh_database, "BUILDER_VAULT_KEYS": f"{old},{new}"}
    rotated = builder("keys", "rotate", "--batch-size", "1", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "tok-rotate-me" not in rotated.stdout + rotated.stderr

    async def check() -> tuple[str, str | None]:
        engine = create_engine(fresh_database)
        try:
            async with session_factory(engine)() as session:
                row = (await session.execute(CredentialRow.__table__.select())).one()
                loaded = await CredentialRepository(session, Keyring.parse(new)).load_credential(
                    tenant, repo_id
                )
                assert loaded is not None
                return row.encryption_key_id, loaded[1].token.get_secret_value()  # type: ignore[union-attr]
        finally:
            await engine.dispose()

    key_id, token = asyncio.run(check())
    assert (key_id, token) == ("new", "tok-rotate-me")


def test_revoking_an_unknown_key_is_a_one_line_error(database_url: str) -> None:
    env = {"BUILDER_DATABASE_URL": database_url}
    result = builder("keys", "revoke", "--tenant", str(uuid.uuid4()), str(uuid.uuid4()), env=env)
    assert result.returncode == 4  # not found
    assert result.stderr.startswith("builder: no API key ")
    assert len(result.stderr.strip().splitlines()) == 1

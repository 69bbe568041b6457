"""Migrations are the schema authority: they go up, down and up again on a real Postgres."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from persistence.migrate import downgrade, upgrade
from tests.fixtures.postgres import create_database, drop_database

SEED_INDEXES = {
    "idx_repo_tenant",
    "idx_repo_tenant_name",
    "idx_repo_deleted",
    "idx_cred_tenant",
    "idx_cred_repo",
    "idx_feature_tenant",
    "idx_feature_repo",
    "idx_feature_state",
    "idx_feature_correlation",
    "idx_feature_created",
    "idx_feature_idempotency",
    "idx_step_feature",
    "idx_step_feature_index",
    "idx_filechange_feature",
    "idx_filechange_step",
    "idx_artifact_feature",
    "idx_artifact_type",
    "idx_event_feature_seq",
    "idx_event_type",
    "idx_event_timestamp",
    "idx_event_correlation",
    "idx_lock_expires",
    "idx_lock_feature",
}

TABLES = {
    "repositories",
    "credentials",
    "feature_executions",
    "execution_steps",
    "file_changes",
    "artifacts",
    "execution_events",
    "distributed_locks",
    "api_keys",
    "webhook_subscriptions",
    "webhook_secrets",
    "webhook_messages",
    "webhook_attempts",
}


async def _catalog(url: str) -> tuple[set[str], dict[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        indexes = {
            r["indexname"]: r["indexdef"]
            for r in await conn.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname='public'"
            )
        }
        return tables, indexes
    finally:
        await conn.close()


@pytest.fixture()
def empty_database(postgres_server_url: str):
    url = create_database(postgres_server_url)
    yield url
    drop_database(postgres_server_url, url)


def test_upgrade_downgrade_upgrade_round_trip_keeps_every_seed_index(empty_database: str) -> None:
    upgrade(empty_database)
    tables, indexes = asyncio.run(_catalog(empty_database))
    assert tables >= TABLES
    assert set(indexes) >= SEED_INDEXES

    downgrade(empty_database, "base")
    tables, _ = asyncio.run(_catalog(empty_database))
    assert not (TABLES & tables)

    upgrade(empty_database)
    tables, indexes = asyncio.run(_catalog(empty_database))
    assert tables >= TABLES
    assert set(indexes) >= SEED_INDEXES


def test_partial_unique_indexes_exclude_soft_deleted_rows(empty_database: str) -> None:
    upgrade(empty_database)
    _, indexes = asyncio.run(_catalog(empty_database))
    for name in (
        "idx_repo_tenant_name",
        "idx_cred_repo",
        "idx_step_feature_index",
        "idx_feature_idempotency",
    ):
        assert "UNIQUE" in indexes[name]
        assert "deleted_at IS NULL" in indexes[name]
    # deviation: idempotency keys are unique per tenant
    assert "(tenant_id, idempotency_key)" in indexes["idx_feature_idempotency"]
    assert "UNIQUE" in indexes["idx_event_feature_seq"]


def test_downgrade_to_seed_head_restores_the_seed_schema(empty_database: str) -> None:
    upgrade(empty_database)
    downgrade(empty_database, "000008")
    tables, indexes = asyncio.run(_catalog(empty_database))
    assert "api_keys" not in tables
    assert "(idempotency_key)" in indexes["idx_feature_idempotency"]
    assert "UNIQUE" not in indexes["idx_event_feature_seq"]

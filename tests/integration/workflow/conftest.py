"""A worker against the real Temporal dev server, Postgres and local git remotes."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from builder.settings import Settings
from builder.stack.temporal import TemporalDevServer
from builder.worker import run_worker
from domain.branches import feature_branch_name
from domain.ids import workflow_id_for
from domain.values import FeatureConstraints
from persistence.uow import UnitOfWork
from workflows.contracts import (
    TASK_QUEUE,
    WORKFLOW_NAME,
    FeatureExecutionInput,
    FeatureExecutionOutput,
)

VAULT_KEY = "k1:" + base64.b64encode(os.urandom(32)).decode()


def worker_settings(
    database_url: str, temporal: TemporalDevServer, state: Path, **extra: Any
) -> Settings:
    return Settings(
        environment="test",
        state_dir=state,
        database_url=database_url,
        temporal_address=temporal.address,
        task_queue=extra.pop("task_queue", TASK_QUEUE),
        allow_local_remotes=True,
        vault_keys=VAULT_KEY,
        worker_id=extra.pop("worker_id", f"w-{uuid.uuid4().hex[:8]}"),
        **extra,
    )


@dataclass
class Harness:
    """Creates repositories and executions in Postgres and starts their workflows."""

    sessions: Any
    client: Client
    task_queue: str

    async def repository(
        self, tenant: uuid.UUID, url: str, properties: dict | None = None
    ) -> uuid.UUID:
        async with UnitOfWork(self.sessions) as uow:
            row = await uow.repositories.create(
                tenant, f"repo-{uuid.uuid4().hex[:6]}", url, properties=properties or {}
            )
            await uow.commit()
            return row.id

    async def start(
        self,
        tenant: uuid.UUID,
        repository_id: uuid.UUID,
        changes: list[dict],
        *,
        title: str = "Add a greeting module",
        constraints: dict | None = None,
        feature_branch: str | None = None,
        engine: str = "spec",
        wait_for_lock: bool = False,
    ) -> tuple[uuid.UUID, WorkflowHandle]:
        key = uuid.uuid4().hex
        async with UnitOfWork(self.sessions) as uow:
            row = await uow.executions.create(
                tenant,
                repository_id,
                title=title,
                description="Declared changes for a test run",
                target_branch="main",
                constraints=FeatureConstraints.model_validate(constraints or {}),
                idempotency_key=key,
                engine=engine,
                changes=changes or None,
            )
            row.feature_branch = feature_branch or feature_branch_name(title, str(row.id))
            row.workflow_id = workflow_id_for(str(tenant), key)
            await uow.commit()
        handle = await self.client.start_workflow(
            WORKFLOW_NAME,
            FeatureExecutionInput(
                execution_id=str(row.id),
                tenant_id=str(tenant),
                repository_id=str(repository_id),
                title=title,
                engine=engine,  # type: ignore[arg-type]
                constraints=FeatureConstraints.model_validate(constraints or {}),
                wait_for_lock=wait_for_lock,
            ),
            id=row.workflow_id,
            task_queue=self.task_queue,
            static_summary=title,
            result_type=FeatureExecutionOutput,
        )
        return row.id, handle


@pytest.fixture
async def harness(sessions, temporal_client: Client) -> Harness:
    return Harness(sessions, temporal_client, f"builder-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def running_worker(
    database_url: str, temporal_server: TemporalDevServer, harness: Harness, tmp_path: Path
) -> AsyncIterator[Settings]:
    settings = worker_settings(
        database_url, temporal_server, tmp_path / "state", task_queue=harness.task_queue
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    await asyncio.sleep(0.5)
    yield settings
    stop.set()
    await asyncio.wait_for(task, 30)


Changes = Callable[[], list[dict]]

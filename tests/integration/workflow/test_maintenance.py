"""The purge workflow removes expired artifacts, expired locks and orphaned worktrees; the
schedule that runs it is created once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from builder.schedules import ensure_purge_schedule
from domain.enums import ArtifactType
from persistence.artifacts import ArtifactService, open_store
from persistence.tables import ArtifactRow, DistributedLockRow
from persistence.uow import UnitOfWork
from workflows.maintenance import PURGE_SCHEDULE_ID, PURGE_WORKFLOW, PurgeReport

WRITE = [{"op": "write_file", "path": "a.txt", "content": "a\n"}]


async def test_purge_removes_expired_artifacts_locks_and_orphaned_worktrees(
    harness, running_worker, bare_remote, sessions, tmp_path: Path
) -> None:
    tenant = uuid.uuid4()
    repo_id = await harness.repository(tenant, str(bare_remote(files=3)))
    execution_id, handle = await harness.start(tenant, repo_id, WRITE)
    await handle.result()
    store = open_store(running_worker.resolved_artifact_url())
    async with UnitOfWork(sessions) as uow:
        old = await ArtifactService(uow.session, store).put(
            tenant,
            execution_id,
            "old.log",
            ArtifactType.BUILD_LOG,
            "text/plain",
            data=b"old",
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        uow.session.add(
            DistributedLockRow(
                lock_key=f"stale-{uuid.uuid4()}",
                owner_id="gone",
                feature_id=execution_id,
                expires_at=datetime.now(UTC) - timedelta(minutes=1),
                fencing_token=1,
            )
        )
        await uow.commit()
    orphan = running_worker.resolved_workspace_dir() / str(execution_id)
    (orphan / "src").mkdir(parents=True)
    (orphan / "src" / "left.txt").write_text("left behind by a crash")
    unknown = running_worker.resolved_workspace_dir() / str(uuid.uuid4())
    unknown.mkdir()

    report = await harness.client.execute_workflow(
        PURGE_WORKFLOW,
        id=f"purge-{uuid.uuid4()}",
        task_queue=harness.task_queue,
        result_type=PurgeReport,
    )

    assert report.artifacts >= 1 and report.locks >= 1 and report.worktrees >= 2
    assert not orphan.exists() and not unknown.exists()
    async with UnitOfWork(sessions) as uow:
        assert await uow.session.get(ArtifactRow, old.id) is None
        stale = await uow.session.scalars(
            select(DistributedLockRow).where(DistributedLockRow.owner_id == "gone")
        )
        assert stale.all() == []
    assert not await store.exists(old.storage_key)


async def test_purge_schedule_is_created_once(temporal_client) -> None:
    queue = f"sched-{uuid.uuid4().hex[:6]}"
    first = await ensure_purge_schedule(temporal_client, queue)
    second = await ensure_purge_schedule(temporal_client, queue)
    description = await temporal_client.get_schedule_handle(PURGE_SCHEDULE_ID).describe()
    assert (first, second) == (True, False)
    assert description.schedule.action.workflow == PURGE_WORKFLOW

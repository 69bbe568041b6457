"""ArtifactService on both backends: idempotent puts, tenant scoping, names, purge, patches."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import ArtifactType, ChangeType
from domain.errors import NotFound, ValidationFailed
from domain.ids import derived_id
from persistence.artifacts import ArtifactService, store_patch
from persistence.artifacts.store import ArtifactStore
from persistence.tables import (
    ArtifactRow,
    ExecutionStepRow,
    FeatureExecutionRow,
    FileChangeRow,
    RepositoryRow,
)


@dataclass(frozen=True)
class Execution:
    tenant_id: uuid.UUID
    execution_id: uuid.UUID
    step_id: uuid.UUID


@pytest.fixture
async def execution(sessions: async_sessionmaker[AsyncSession]) -> Execution:
    """A repository, an execution and one step of a fresh tenant."""
    tenant = uuid.uuid4()
    async with sessions() as session, session.begin():
        repository = RepositoryRow(
            id=uuid.uuid4(), tenant_id=tenant, name="app", url="https://git.example.com/app.git"
        )
        session.add(repository)
        await session.flush()
        row = FeatureExecutionRow(
            id=uuid.uuid4(),
            tenant_id=tenant,
            repository_id=repository.id,
            title="Add health endpoint",
            description="Add a /health endpoint returning ok",
            target_branch="main",
        )
        session.add(row)
        await session.flush()
        step = ExecutionStepRow(
            id=uuid.uuid4(),
            feature_execution_id=row.id,
            step_index=0,
            description="create the handler",
            step_type="create_file",
        )
        session.add(step)
    return Execution(tenant, row.id, step.id)


async def _content(service: ArtifactService, tenant: uuid.UUID, artifact_id: uuid.UUID) -> bytes:
    return b"".join([chunk async for chunk in await service.open(tenant, artifact_id)])


async def test_put_stores_blob_and_row_under_a_key_built_from_ids(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    async with sessions() as session, session.begin():
        row = await ArtifactService(session, artifact_store).put(
            execution.tenant_id,
            execution.execution_id,
            "build.log",
            ArtifactType.BUILD_LOG,
            "text/plain",
            data=b"compiling...\nok\n",
            metadata={"exit_code": 0},
        )
    assert row.id == uuid.UUID(derived_id(execution.execution_id, "build.log"))
    assert row.storage_key == (f"{execution.tenant_id}/{execution.execution_id}/{row.id}/build.log")
    assert (row.size, row.checksum) == (16, hashlib.sha256(b"compiling...\nok\n").hexdigest())
    assert row.type == "build_log" and row.metadata_ == {"exit_code": 0}
    assert await artifact_store.exists(row.storage_key)
    async with sessions() as session:
        service = ArtifactService(session, artifact_store)
        assert await _content(service, execution.tenant_id, row.id) == b"compiling...\nok\n"


async def test_retried_put_with_the_same_name_updates_the_same_row(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    ids = []
    for attempt in (b"attempt one", b"attempt two, longer"):
        async with sessions() as session, session.begin():
            row = await ArtifactService(session, artifact_store).put(
                execution.tenant_id,
                execution.execution_id,
                "plan.json",
                "plan",
                "application/json",
                data=attempt,
            )
            ids.append(row.id)
    async with sessions() as session:
        service = ArtifactService(session, artifact_store)
        rows = await service.list_by_execution(execution.tenant_id, execution.execution_id)
        content = await _content(service, execution.tenant_id, ids[0])
    assert ids[0] == ids[1]
    assert [r.name for r in rows] == ["plan.json"]
    assert rows[0].size == len(b"attempt two, longer")
    assert content == b"attempt two, longer"


async def test_a_put_after_a_soft_delete_brings_the_row_back_with_the_new_fields(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    async def put(data: bytes, metadata: dict[str, object]) -> ArtifactRow:
        async with sessions() as session, session.begin():
            return await ArtifactService(session, artifact_store).put(
                execution.tenant_id, execution.execution_id, "report.json", "test_report",
                "application/json", data=data, metadata=metadata,
            )  # fmt: skip

    first = await put(b"{}", {"run": 1})
    async with sessions() as session, session.begin():
        row = await session.get(ArtifactRow, first.id)
        assert row is not None
        row.deleted_at = datetime.now(UTC)
    again = await put(b'{"tests": 3}', {"run": 2})
    async with sessions() as session:
        service = ArtifactService(session, artifact_store)
        rows = await service.list_by_execution(execution.tenant_id, execution.execution_id)
    assert again.id == first.id and again.deleted_at is None
    assert [(r.name, r.metadata_, r.size) for r in rows] == [("report.json", {"run": 2}, 12)]


async def test_a_live_row_written_by_other_means_keeps_its_id_when_put_again(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    other_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        session.add(
            ArtifactRow(
                id=other_id, feature_execution_id=execution.execution_id, name="notes.txt",
                type="build_log", content_type="text/plain", storage_key="elsewhere", size=0,
                checksum="0" * 64, metadata_={},
            )
        )  # fmt: skip
    async with sessions() as session, session.begin():
        row = await ArtifactService(session, artifact_store).put(
            execution.tenant_id, execution.execution_id, "notes.txt", "build_log", "text/plain",
            data=b"written by the service",
        )  # fmt: skip
    assert row.id == other_id
    assert row.size == len(b"written by the service")
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).where(ArtifactRow.feature_execution_id == execution.execution_id)
        )
        content = await _content(
            ArtifactService(session, artifact_store), execution.tenant_id, other_id
        )
    assert count == 1
    assert content == b"written by the service"


async def test_put_from_a_stream_records_size_and_checksum(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    parts = [b"<testsuite tests='2'>", b"<testcase/>" * 100, b"</testsuite>"]

    async def stream() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async with sessions() as session, session.begin():
        row = await ArtifactService(session, artifact_store).put(
            execution.tenant_id,
            execution.execution_id,
            "junit.xml",
            ArtifactType.TEST_REPORT,
            "application/xml",
            stream=stream(),
        )
    whole = b"".join(parts)
    assert (row.size, row.checksum) == (len(whole), hashlib.sha256(whole).hexdigest())


async def test_other_tenants_cannot_see_write_or_read_the_artifacts(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    stranger = uuid.uuid4()
    async with sessions() as session, session.begin():
        service = ArtifactService(session, artifact_store)
        row = await service.put(
            execution.tenant_id,
            execution.execution_id,
            "analysis.json",
            ArtifactType.ANALYSIS_REPORT,
            "application/json",
            data=b"{}",
        )
        assert await service.list_by_execution(stranger, execution.execution_id) == []
        with pytest.raises(NotFound):
            await service.get(stranger, row.id)
        with pytest.raises(NotFound):
            await service.open(stranger, row.id)
        with pytest.raises(NotFound):
            await service.put(
                stranger, execution.execution_id, "x.json", "plan", "application/json", data=b"1"
            )


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "a/b.txt", "..", ".hidden", "x" * 201, "", "log\x00.txt", "a b"],
)
async def test_unsafe_names_are_refused_before_anything_is_stored(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
    name: str,
) -> None:
    async with sessions() as session, session.begin():
        with pytest.raises(ValidationFailed, match="artifact name"):
            await ArtifactService(session, artifact_store).put(
                execution.tenant_id,
                execution.execution_id,
                name,
                "plan",
                "text/plain",
                data=b"payload",
            )
        count = await session.scalar(
            select(func.count())
            .select_from(ArtifactRow)
            .where(ArtifactRow.feature_execution_id == execution.execution_id)
        )
    assert count == 0


async def test_unknown_type_and_missing_content_are_refused(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    async with sessions() as session, session.begin():
        service = ArtifactService(session, artifact_store)
        with pytest.raises(ValidationFailed, match="'screenshot' is not one of"):
            await service.put(
                execution.tenant_id,
                execution.execution_id,
                "a.png",
                "screenshot",
                "image/png",
                data=b"x",
            )
        with pytest.raises(ValidationFailed, match="exactly one of data and stream"):
            await service.put(
                execution.tenant_id, execution.execution_id, "a.log", "build_log", "text/plain"
            )


async def test_purge_removes_expired_blobs_and_rows_and_keeps_the_rest(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    now = datetime.now(UTC)
    # far in the past so other tests' artifacts (all unexpiring) are untouched
    long_ago = now - timedelta(days=3650)
    expiries = {"old-1.log": long_ago, "old-2.log": long_ago, "fresh.log": now + timedelta(days=1)}
    async with sessions() as session, session.begin():
        service = ArtifactService(session, artifact_store)
        rows = {
            name: await service.put(
                execution.tenant_id,
                execution.execution_id,
                name,
                ArtifactType.BUILD_LOG,
                "text/plain",
                data=name.encode(),
                expires_at=expires,
            )
            for name, expires in expiries.items()
        }
    async with sessions() as session, session.begin():
        purged = await ArtifactService(session, artifact_store).purge_expired(
            long_ago + timedelta(seconds=1)
        )
    async with sessions() as session:
        service = ArtifactService(session, artifact_store)
        left = await service.list_by_execution(execution.tenant_id, execution.execution_id)
    assert purged == 2
    assert [r.name for r in left] == ["fresh.log"]
    assert not await artifact_store.exists(rows["old-1.log"].storage_key)
    assert not await artifact_store.exists(rows["old-2.log"].storage_key)
    assert await artifact_store.exists(rows["fresh.log"].storage_key)


async def test_small_patch_stays_inline_and_large_patch_moves_to_an_artifact(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    small = "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-a\n+b\n"
    large = "".join(f"+line {n}\n" for n in range(5000))
    async with sessions() as session, session.begin():
        service = ArtifactService(session, artifact_store)
        common = {
            "execution_id": execution.execution_id,
            "step_id": execution.step_id,
            "inline_limit": 1024,
        }
        inline = await store_patch(
            service,
            execution.tenant_id,
            file_path="app.py",
            change_type=ChangeType.MODIFIED,
            patch_text=small,
            lines_added=1,
            lines_removed=1,
            **common,
        )
        moved = await store_patch(
            service,
            execution.tenant_id,
            file_path="src/big.py",
            change_type="created",
            patch_text=large,
            lines_added=5000,
            **common,
        )
        retried = await store_patch(
            service,
            execution.tenant_id,
            file_path="src/big.py",
            change_type="created",
            patch_text=large,
            lines_added=5000,
            **common,
        )
    assert (inline.patch_content, inline.patch_artifact_id) == (small, None)
    assert moved.patch_content is None and moved.patch_artifact_id is not None
    assert retried.id == moved.id and retried.patch_artifact_id == moved.patch_artifact_id
    async with sessions() as session:
        service = ArtifactService(session, artifact_store)
        artifact = await service.get(execution.tenant_id, moved.patch_artifact_id)
        content = await _content(service, execution.tenant_id, artifact.id)
        changes = (
            await session.scalars(
                select(FileChangeRow).where(FileChangeRow.execution_step_id == execution.step_id)
            )
        ).all()
    assert artifact.type == "patch" and content.decode() == large
    assert sorted(c.file_path for c in changes) == ["app.py", "src/big.py"]


async def test_patch_for_another_tenants_execution_is_not_found(
    sessions: async_sessionmaker[AsyncSession],
    artifact_store: ArtifactStore,
    execution: Execution,
) -> None:
    async with sessions() as session, session.begin():
        with pytest.raises(NotFound):
            await store_patch(
                ArtifactService(session, artifact_store),
                uuid.uuid4(),
                execution_id=execution.execution_id,
                step_id=execution.step_id,
                file_path="app.py",
                change_type=ChangeType.MODIFIED,
                patch_text="+x\n",
                inline_limit=1024,
            )

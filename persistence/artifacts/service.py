"""Artifacts of executions: the blob in the store and its row in Postgres, written together.

A put is idempotent by (execution, name): the artifact id is derived from both, so a
retried activity overwrites the same blob key and upserts the same row. Reads are tenant
scoped through the execution row; another tenant's artifact is "not found".
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.enums import ArtifactType
from domain.errors import FieldError, NotFound, ValidationFailed
from domain.ids import derived_id
from persistence.artifacts.names import safe_name, storage_key
from persistence.artifacts.store import ArtifactStore, StoredBlob
from persistence.tables import ArtifactRow, FeatureExecutionRow


def artifact_id_for(execution_id: uuid.UUID, name: str) -> uuid.UUID:
    """The deterministic id of artifact `name` of an execution."""
    return uuid.UUID(derived_id(execution_id, name))


# Built once (every activity stores an artifact or two; a statement built per call costs
# more CPU than its round trip). One round trip: the execution is the tenant's, and a live
# row of this name written by other means keeps its id (otherwise the id is derived).
_EXECUTION_AND_ARTIFACT = (
    select(FeatureExecutionRow.id, ArtifactRow.id)
    .outerjoin(
        ArtifactRow,
        (ArtifactRow.feature_execution_id == FeatureExecutionRow.id)
        & (ArtifactRow.name == bindparam("name"))
        & ArtifactRow.deleted_at.is_(None),
    )
    .where(
        FeatureExecutionRow.id == bindparam("execution_id"),
        FeatureExecutionRow.tenant_id == bindparam("tenant_id"),
        FeatureExecutionRow.deleted_at.is_(None),
    )
)
_UPSERTED = ("type", "content_type", "storage_key", "size", "checksum", "metadata", "expires_at")


def _upsert_artifact() -> Any:
    """Insert the row, or overwrite (and undelete) the one with its id."""
    table = ArtifactRow.__table__
    rows_in = insert(ArtifactRow).values(
        {
            table.c.id: bindparam("artifact_id"),
            table.c.feature_execution_id: bindparam("of_execution"),
            table.c.name: bindparam("artifact_name"),
            table.c.deleted_at: None,
            **{table.c[c]: bindparam(f"new_{c}", type_=table.c[c].type) for c in _UPSERTED},
        }
    )
    overwritten = {c: rows_in.excluded[c] for c in (*_UPSERTED, "deleted_at")}
    return rows_in.on_conflict_do_update(index_elements=[table.c.id], set_=overwritten).returning(
        ArtifactRow
    )


_UPSERT_ARTIFACT = _upsert_artifact()


class ArtifactService:
    """Write, list, read and purge execution artifacts inside the caller's unit of work."""

    def __init__(self, session: AsyncSession, store: ArtifactStore) -> None:
        self.session = session
        self.store = store

    async def require_execution(self, tenant_id: uuid.UUID, execution_id: uuid.UUID) -> None:
        """NotFound unless the execution exists and is the tenant's."""
        found = await self.session.scalar(
            select(FeatureExecutionRow.id).where(
                FeatureExecutionRow.id == execution_id,
                FeatureExecutionRow.tenant_id == tenant_id,
                FeatureExecutionRow.deleted_at.is_(None),
            )
        )
        if found is None:
            raise NotFound(f"feature execution {execution_id} not found")

    async def put(
        self,
        tenant_id: uuid.UUID,
        execution_id: uuid.UUID,
        name: str,
        type: ArtifactType | str,
        content_type: str,
        *,
        data: bytes | None = None,
        stream: AsyncIterator[bytes] | None = None,
        metadata: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> ArtifactRow:
        """Upload `data` or `stream` and upsert the artifact row; returns the row.

        Raises ValidationFailed for a bad name/type or not exactly one of data and stream,
        NotFound when the execution is not the tenant's.
        """
        safe_name(name)
        artifact_type = _artifact_type(type)
        if (data is None) == (stream is None):
            raise ValidationFailed(
                [FieldError("data", "give exactly one of data and stream for an artifact")]
            )
        # one round trip: the execution is the tenant's, and a live row of this name
        # written by other means keeps its id (otherwise the id is derived)
        found = (
            await self.session.execute(
                _EXECUTION_AND_ARTIFACT,
                {"execution_id": execution_id, "tenant_id": tenant_id, "name": name},
            )
        ).first()
        if found is None:
            raise NotFound(f"feature execution {execution_id} not found")
        artifact_id = found[1] or artifact_id_for(execution_id, name)
        key = storage_key(tenant_id, execution_id, artifact_id, name)
        blob: StoredBlob
        if data is not None:
            blob = await self.store.put_bytes(key, data, content_type)
        else:
            assert stream is not None
            blob = await self.store.put_stream(key, stream, content_type)
        params: dict[str, Any] = {
            "artifact_id": artifact_id,
            "of_execution": execution_id,
            "artifact_name": name,
            "new_type": artifact_type.value,
            "new_content_type": content_type,
            "new_storage_key": key,
            "new_size": blob.size,
            "new_checksum": blob.sha256,
            "new_metadata": metadata or {},
            "new_expires_at": expires_at,
        }
        result = await self.session.scalars(
            _UPSERT_ARTIFACT, params, execution_options={"populate_existing": True}
        )
        return result.one()

    async def list_by_execution(
        self, tenant_id: uuid.UUID, execution_id: uuid.UUID
    ) -> list[ArtifactRow]:
        """Live artifacts of the execution, oldest first; empty for another tenant's."""
        rows = await self.session.scalars(
            select(ArtifactRow)
            .join(FeatureExecutionRow, FeatureExecutionRow.id == ArtifactRow.feature_execution_id)
            .where(
                FeatureExecutionRow.tenant_id == tenant_id,
                ArtifactRow.feature_execution_id == execution_id,
                ArtifactRow.deleted_at.is_(None),
            )
            .order_by(ArtifactRow.created_at, ArtifactRow.name)
        )
        return list(rows.all())

    async def get(self, tenant_id: uuid.UUID, artifact_id: uuid.UUID) -> ArtifactRow:
        """The live artifact, or NotFound (also for another tenant's)."""
        row = await self.session.scalar(
            select(ArtifactRow)
            .join(FeatureExecutionRow, FeatureExecutionRow.id == ArtifactRow.feature_execution_id)
            .where(
                ArtifactRow.id == artifact_id,
                FeatureExecutionRow.tenant_id == tenant_id,
                ArtifactRow.deleted_at.is_(None),
            )
        )
        if row is None:
            raise NotFound(f"artifact {artifact_id} not found")
        return row

    async def open(self, tenant_id: uuid.UUID, artifact_id: uuid.UUID) -> AsyncIterator[bytes]:
        """The artifact's content as a stream of chunks (NotFound first, before any I/O)."""
        row = await self.get(tenant_id, artifact_id)
        return self.store.get_stream(row.storage_key)

    async def download_url(
        self, tenant_id: uuid.UUID, artifact_id: uuid.UUID, expires: timedelta
    ) -> str | None:
        """A presigned URL when the store has one (S3); None means: stream it via `open`."""
        row = await self.get(tenant_id, artifact_id)
        return await self.store.download_url(row.storage_key, expires)

    async def delete(self, tenant_id: uuid.UUID, artifact_id: uuid.UUID) -> None:
        """Remove the blob and the row of one artifact."""
        row = await self.get(tenant_id, artifact_id)
        await self.store.delete(row.storage_key)
        await self.session.execute(delete(ArtifactRow).where(ArtifactRow.id == row.id))

    async def purge_expired(self, now: datetime, batch_size: int = 500) -> int:
        """Delete every artifact (any tenant) expired at `now`: blobs first, then rows.

        Blob deletes are idempotent, so a purge whose transaction fails is simply re-run.
        Returns how many artifacts were purged.
        """
        purged = 0
        while True:
            rows = (
                await self.session.execute(
                    select(ArtifactRow.id, ArtifactRow.storage_key)
                    .where(ArtifactRow.expires_at.is_not(None), ArtifactRow.expires_at <= now)
                    .order_by(ArtifactRow.expires_at)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                return purged
            for _, key in rows:
                await self.store.delete(key)
            await self.session.execute(
                delete(ArtifactRow).where(ArtifactRow.id.in_([row_id for row_id, _ in rows]))
            )
            purged += len(rows)


def _artifact_type(value: ArtifactType | str) -> ArtifactType:
    try:
        return ArtifactType(value)
    except ValueError:
        raise ValidationFailed(
            [FieldError("type", f"artifact type {value!r} is not one of the known types")]
        ) from None

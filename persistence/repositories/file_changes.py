"""Files touched by a step, upserted by (step, path) so a retried apply never duplicates."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import text

from domain.errors import NotFound
from domain.values import FileChangeStat
from persistence.repositories.base import as_uuid, execution_owned_by
from persistence.tables import ExecutionStepRow, FeatureExecutionRow, FileChangeRow

_LIVE = text("deleted_at IS NULL")


def _record_changes() -> Any:
    """Upsert by (step, path); a row with an artifact keeps it when re-recorded inline."""
    rows_in = insert(FileChangeRow)
    excluded = rows_in.excluded
    return rows_in.on_conflict_do_update(
        index_elements=["execution_step_id", "file_path"],
        index_where=_LIVE,
        set_={
            "change_type": excluded.change_type,
            "previous_hash": excluded.previous_hash,
            "new_hash": excluded.new_hash,
            "lines_added": excluded.lines_added,
            "lines_removed": excluded.lines_removed,
            "patch_content": excluded.patch_content,
            "patch_artifact_id": func.coalesce(
                excluded.patch_artifact_id, FileChangeRow.patch_artifact_id
            ),
        },
    ).returning(FileChangeRow)


# the rows go as parameters of this one cached statement: a multi-VALUES insert has no
# cache key, so SQLAlchemy would compile it on every call
_RECORD_CHANGES = _record_changes()


class FileChangeRepository:
    """File changes of the executions of one tenant (scoped through the parent execution)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _owned(self, tenant_id: uuid.UUID) -> list[ColumnElement[bool]]:
        return [
            FileChangeRow.deleted_at.is_(None),
            execution_owned_by(tenant_id, FileChangeRow.feature_execution_id),
        ]

    async def record(
        self,
        tenant_id: uuid.UUID | str,
        step_id: uuid.UUID | str,
        changes: Sequence[FileChangeStat],
        *,
        patch_artifact_ids: Mapping[str, uuid.UUID] | None = None,
    ) -> list[FileChangeRow]:
        """Upsert every change of one step in one statement; recording the same changes again
        overwrites them in place. NotFound when the step is not the tenant's."""
        tid = as_uuid(tenant_id, "tenant")
        sid = as_uuid(step_id, "execution step")
        execution_id = await self.session.scalar(
            select(ExecutionStepRow.feature_execution_id).where(
                ExecutionStepRow.id == sid,
                ExecutionStepRow.deleted_at.is_(None),
                execution_owned_by(tid, ExecutionStepRow.feature_execution_id),
            )
        )
        if execution_id is None:
            raise NotFound(f"execution step {step_id} not found")
        if not changes:
            return []
        artifacts = patch_artifact_ids or {}
        rows = [
            {
                "id": uuid.uuid4(),
                "feature_execution_id": execution_id,
                "execution_step_id": sid,
                "file_path": c.file_path,
                "change_type": str(c.change_type),
                "previous_hash": c.previous_hash,
                "new_hash": c.new_hash,
                "lines_added": c.lines_added,
                "lines_removed": c.lines_removed,
                "patch_content": c.patch,
                "patch_artifact_id": artifacts.get(c.file_path),
            }
            for c in changes
        ]
        stored = (
            await self.session.scalars(
                _RECORD_CHANGES, rows, execution_options={"populate_existing": True}
            )
        ).all()
        return sorted(stored, key=lambda r: r.file_path)

    async def upsert(
        self,
        tenant_id: uuid.UUID | str,
        step_id: uuid.UUID | str,
        change: FileChangeStat,
        *,
        patch_artifact_id: uuid.UUID | None = None,
    ) -> FileChangeRow:
        """Upsert one file change of a step (see `record`)."""
        ids = {change.file_path: patch_artifact_id} if patch_artifact_id else None
        return (await self.record(tenant_id, step_id, [change], patch_artifact_ids=ids))[0]

    async def list_by_execution(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str
    ) -> list[FileChangeRow]:
        """Every live file change of the execution, by step index then path."""
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, "feature execution")
        stmt = (
            select(FileChangeRow)
            .join(ExecutionStepRow, ExecutionStepRow.id == FileChangeRow.execution_step_id)
            .where(FileChangeRow.feature_execution_id == eid, *self._owned(tid))
            .order_by(ExecutionStepRow.step_index, FileChangeRow.file_path)
        )
        rows = list((await self.session.scalars(stmt)).all())
        if not rows:
            await self._ensure(
                select(FeatureExecutionRow.id).where(
                    FeatureExecutionRow.id == eid,
                    FeatureExecutionRow.tenant_id == tid,
                    FeatureExecutionRow.deleted_at.is_(None),
                ),
                f"feature execution {execution_id} not found",
            )
        return rows

    async def list_by_step(
        self, tenant_id: uuid.UUID | str, step_id: uuid.UUID | str
    ) -> list[FileChangeRow]:
        """Every live file change of one step, by path."""
        tid = as_uuid(tenant_id, "tenant")
        sid = as_uuid(step_id, "execution step")
        stmt = (
            select(FileChangeRow)
            .where(FileChangeRow.execution_step_id == sid, *self._owned(tid))
            .order_by(FileChangeRow.file_path)
        )
        rows = list((await self.session.scalars(stmt)).all())
        if not rows:
            await self._ensure(
                select(ExecutionStepRow.id).where(
                    ExecutionStepRow.id == sid,
                    ExecutionStepRow.deleted_at.is_(None),
                    execution_owned_by(tid, ExecutionStepRow.feature_execution_id),
                ),
                f"execution step {step_id} not found",
            )
        return rows

    async def _ensure(self, query: Select[Any], message: str) -> None:
        if await self.session.scalar(query) is None:
            raise NotFound(message)

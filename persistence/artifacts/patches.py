"""Where a file change's patch lives: inline in the row when small, else in an artifact.

Keeping big patches out of Postgres keeps rows small and queries fast; the threshold is
the `artifact_inline_patch_limit` setting.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from domain.enums import ArtifactType, ChangeType
from domain.errors import NotFound
from domain.ids import derived_id
from domain.values import FileChangeStat
from persistence.artifacts.service import ArtifactService
from persistence.tables import ExecutionStepRow, FileChangeRow

PATCH_CONTENT_TYPE = "text/x-diff; charset=utf-8"
# what a retried store overwrites (the id and the step stay)
_UPDATED = (
    "change_type",
    "previous_hash",
    "new_hash",
    "lines_added",
    "lines_removed",
    "patch_content",
    "patch_artifact_id",
)


def _upsert_changes() -> Any:
    rows_in = insert(FileChangeRow)
    return rows_in.on_conflict_do_update(
        index_elements=[FileChangeRow.execution_step_id, FileChangeRow.file_path],
        index_where=FileChangeRow.deleted_at.is_(None),
        set_={name: getattr(rows_in.excluded, name) for name in _UPDATED},
    ).returning(FileChangeRow)


# the rows go as parameters of one cached statement (a multi-VALUES insert has no cache key
# and would be compiled on every call)
_UPSERT_CHANGES = _upsert_changes()


def patch_artifact_name(step_id: uuid.UUID, file_path: str) -> str:
    """Artifact name of a file's patch: file paths hold slashes, so names derive from ids."""
    return f"patch-{derived_id(step_id, file_path)}.diff"


async def store_patch(
    artifacts: ArtifactService,
    tenant_id: uuid.UUID,
    *,
    execution_id: uuid.UUID,
    step_id: uuid.UUID,
    file_path: str,
    change_type: ChangeType | str,
    patch_text: str,
    inline_limit: int,
    previous_hash: str | None = None,
    new_hash: str | None = None,
    lines_added: int = 0,
    lines_removed: int = 0,
    expires_at: datetime | None = None,
) -> FileChangeRow:
    """Upsert the file change of (step, file_path) with its patch placed by size (see
    `store_patches`)."""
    change = FileChangeStat(
        file_path=file_path,
        change_type=ChangeType(change_type),
        previous_hash=previous_hash,
        new_hash=new_hash,
        lines_added=lines_added,
        lines_removed=lines_removed,
        patch=patch_text,
    )
    rows = await store_patches(
        artifacts, tenant_id, execution_id=execution_id, step_id=step_id, changes=[change],
        inline_limit=inline_limit, expires_at=expires_at,
    )  # fmt: skip
    return rows[0]


async def store_patches(
    artifacts: ArtifactService,
    tenant_id: uuid.UUID,
    *,
    execution_id: uuid.UUID,
    step_id: uuid.UUID,
    changes: Sequence[FileChangeStat],
    inline_limit: int,
    expires_at: datetime | None = None,
) -> list[FileChangeRow]:
    """Upsert every file change of one step with its patch placed by size, in one statement.

    A patch of at most `inline_limit` UTF-8 bytes goes to `patch_content`; a larger one
    (or one Postgres text cannot hold) is uploaded as a `patch` artifact first and referenced
    by `patch_artifact_id`. Retries update the same rows. Raises NotFound when the step is
    not a step of the tenant's execution.
    """
    session = artifacts.session
    step = await session.scalar(
        select(ExecutionStepRow.id).where(
            ExecutionStepRow.id == step_id, ExecutionStepRow.feature_execution_id == execution_id
        )
    )
    if step is None:
        raise NotFound(f"execution step {step_id} of execution {execution_id} not found")
    # the tenant check the artifact path gets from put()
    await artifacts.require_execution(tenant_id, execution_id)
    if not changes:
        return []
    values: list[dict[str, Any]] = []
    for change in changes:
        encoded = change.patch.encode("utf-8", errors="surrogateescape")
        patch_content: str | None = change.patch
        patch_artifact_id: uuid.UUID | None = None
        if len(encoded) > inline_limit or "\x00" in change.patch:
            artifact = await artifacts.put(
                tenant_id,
                execution_id,
                patch_artifact_name(step_id, change.file_path),
                ArtifactType.PATCH,
                PATCH_CONTENT_TYPE,
                data=encoded,
                metadata={"file_path": change.file_path, "execution_step_id": str(step_id)},
                expires_at=expires_at,
            )
            patch_content, patch_artifact_id = None, artifact.id
        values.append(
            {
                "id": uuid.UUID(derived_id("file_change", step_id, change.file_path)),
                "feature_execution_id": execution_id,
                "execution_step_id": step_id,
                "file_path": change.file_path,
                "change_type": ChangeType(change.change_type).value,
                "previous_hash": change.previous_hash,
                "new_hash": change.new_hash,
                "lines_added": change.lines_added,
                "lines_removed": change.lines_removed,
                "patch_content": patch_content,
                "patch_artifact_id": patch_artifact_id,
            }
        )
    result = await session.scalars(
        _UPSERT_CHANGES, values, execution_options={"populate_existing": True}
    )
    return sorted(result.all(), key=lambda r: r.file_path)

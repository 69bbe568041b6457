"""Where a file change's patch lives: inline in the row when small, else in an artifact.

Keeping big patches out of Postgres keeps rows small and queries fast; the threshold is
the `artifact_inline_patch_limit` setting.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from domain.enums import ArtifactType, ChangeType
from domain.errors import NotFound
from domain.ids import derived_id
from persistence.artifacts.service import ArtifactService
from persistence.tables import ExecutionStepRow, FileChangeRow

PATCH_CONTENT_TYPE = "text/x-diff; charset=utf-8"


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
    """Upsert the file change of (step, file_path) with its patch placed by size.

    A patch of at most `inline_limit` UTF-8 bytes goes to `patch_content`; a larger one
    (or one Postgres text cannot hold) is uploaded as a `patch` artifact and referenced by
    `patch_artifact_id`. Retries update the same row. Raises NotFound when the step is not
    a step of the tenant's execution.
    """
    session = artifacts.session
    step = await session.scalar(
        select(ExecutionStepRow.id).where(
            ExecutionStepRow.id == step_id, ExecutionStepRow.feature_execution_id == execution_id
        )
    )
    if step is None:
        raise NotFound(f"execution step {step_id} of execution {execution_id} not found")
    encoded = patch_text.encode("utf-8", errors="surrogateescape")
    patch_content: str | None = patch_text
    patch_artifact_id: uuid.UUID | None = None
    if len(encoded) > inline_limit or "\x00" in patch_text:
        artifact = await artifacts.put(
            tenant_id,
            execution_id,
            patch_artifact_name(step_id, file_path),
            ArtifactType.PATCH,
            PATCH_CONTENT_TYPE,
            data=encoded,
            metadata={"file_path": file_path, "execution_step_id": str(step_id)},
            expires_at=expires_at,
        )
        patch_content, patch_artifact_id = None, artifact.id
    else:
        # the tenant check the artifact path gets from put()
        await artifacts.require_execution(tenant_id, execution_id)
    values = {
        "change_type": ChangeType(change_type).value,
        "previous_hash": previous_hash,
        "new_hash": new_hash,
        "lines_added": lines_added,
        "lines_removed": lines_removed,
        "patch_content": patch_content,
        "patch_artifact_id": patch_artifact_id,
    }
    statement = (
        insert(FileChangeRow)
        .values(
            id=uuid.UUID(derived_id("file_change", step_id, file_path)),
            feature_execution_id=execution_id,
            execution_step_id=step_id,
            file_path=file_path,
            **values,
        )
        .on_conflict_do_update(
            index_elements=[FileChangeRow.execution_step_id, FileChangeRow.file_path],
            index_where=FileChangeRow.deleted_at.is_(None),
            set_=values,
        )
        .returning(FileChangeRow)
    )
    result = await session.scalars(statement, execution_options={"populate_existing": True})
    return result.one()

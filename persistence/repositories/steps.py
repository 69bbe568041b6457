"""Execution steps: one row per plan step, upserted by (execution, step index) so a
retried planning or apply activity never duplicates a step."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, null, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import text

from domain.edits import FileEdit, file_edits_adapter
from domain.enums import StepState
from domain.errors import NotFound
from domain.values import ExecutionPlan, PlanStep, StepError
from persistence.repositories.base import UNSET, Unset, as_uuid, execution_owned_by
from persistence.tables import ExecutionStepRow, FeatureExecutionRow

_LIVE = text("deleted_at IS NULL")


def _upsert_steps() -> Any:
    """Insert steps, or refresh the description, type and targets of those that exist."""
    rows_in = insert(ExecutionStepRow)
    return rows_in.on_conflict_do_update(
        index_elements=["feature_execution_id", "step_index"],
        index_where=_LIVE,
        set_={
            "description": rows_in.excluded.description,
            "step_type": rows_in.excluded.step_type,
            "target_files": rows_in.excluded.target_files,
            "updated_at": func.now(),
        },
    ).returning(ExecutionStepRow)


_UPSERT_STEPS = _upsert_steps()

# built once: every activity's context reads its steps this way
_STEPS_OF_EXECUTION = (
    select(ExecutionStepRow)
    .where(ExecutionStepRow.feature_execution_id == bindparam("execution_id"), _LIVE)
    .order_by(ExecutionStepRow.step_index)
)
_FINISHED = {StepState.COMPLETED, StepState.FAILED, StepState.SKIPPED}


def stored_edits(step: ExecutionStepRow) -> list[FileEdit] | None:
    """The edits persisted for a step before they were applied, or None if none yet."""
    if step.generated_edits is None:
        return None
    return file_edits_adapter.validate_python(step.generated_edits)


class ExecutionStepRepository:
    """Steps of the executions of one tenant (scoped through the parent execution)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _owned(self, tenant_id: uuid.UUID) -> list[ColumnElement[bool]]:
        return [
            ExecutionStepRow.deleted_at.is_(None),
            execution_owned_by(tenant_id, ExecutionStepRow.feature_execution_id),
        ]

    async def _ensure_execution(self, tenant_id: uuid.UUID, execution_id: uuid.UUID) -> None:
        found = await self.session.scalar(
            select(FeatureExecutionRow.id).where(
                FeatureExecutionRow.id == execution_id,
                FeatureExecutionRow.tenant_id == tenant_id,
                FeatureExecutionRow.deleted_at.is_(None),
            )
        )
        if found is None:
            raise NotFound(f"feature execution {execution_id} not found")

    async def upsert_plan(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str, plan: ExecutionPlan
    ) -> list[ExecutionStepRow]:
        """Write every step of the plan in one statement; rewriting the same plan is a no-op
        apart from `updated_at`, and never resets a step's state or commit."""
        return await self.upsert_steps(tenant_id, execution_id, plan.steps)

    async def upsert(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str, step: PlanStep
    ) -> ExecutionStepRow:
        """Insert the step, or refresh its description, type and targets if it exists."""
        return (await self.upsert_steps(tenant_id, execution_id, [step]))[0]

    async def upsert_steps(
        self,
        tenant_id: uuid.UUID | str,
        execution_id: uuid.UUID | str,
        steps: Sequence[PlanStep],
    ) -> list[ExecutionStepRow]:
        if not steps:
            return []
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, "feature execution")
        await self._ensure_execution(tid, eid)
        rows = [
            {
                "id": uuid.uuid4(),
                "feature_execution_id": eid,
                "step_index": s.index,
                "description": s.description,
                "step_type": str(s.type),
                "target_files": list(s.target_files),
                "state": int(StepState.PENDING),
            }
            for s in steps
        ]
        # the rows as parameters of one cached statement (a multi-VALUES insert has no cache
        # key, so SQLAlchemy would compile it on every call)
        stored = (
            await self.session.scalars(
                _UPSERT_STEPS, rows, execution_options={"populate_existing": True}
            )
        ).all()
        return sorted(stored, key=lambda r: r.step_index)

    async def find(
        self, tenant_id: uuid.UUID | str, step_id: uuid.UUID | str
    ) -> ExecutionStepRow | None:
        tid = as_uuid(tenant_id, "tenant")
        try:
            sid = as_uuid(step_id, "execution step")
        except NotFound:
            return None
        stmt = select(ExecutionStepRow).where(ExecutionStepRow.id == sid, *self._owned(tid))
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, tenant_id: uuid.UUID | str, step_id: uuid.UUID | str) -> ExecutionStepRow:
        """The step, if its execution belongs to the tenant; NotFound otherwise."""
        row = await self.find(tenant_id, step_id)
        if row is None:
            raise NotFound(f"execution step {step_id} not found")
        return row

    async def get_by_index(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str, step_index: int
    ) -> ExecutionStepRow:
        """Step number `step_index` of the execution; NotFound otherwise."""
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, "feature execution")
        stmt = select(ExecutionStepRow).where(
            ExecutionStepRow.feature_execution_id == eid,
            ExecutionStepRow.step_index == step_index,
            *self._owned(tid),
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is None:
            raise NotFound(f"step {step_index} of feature execution {execution_id} not found")
        return row

    async def get_by_feature_id(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str
    ) -> list[ExecutionStepRow]:
        """Every live step of the execution ordered by index; NotFound for an unknown
        (or another tenant's) execution, [] for one without a plan yet."""
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, "feature execution")
        stmt = (
            select(ExecutionStepRow)
            .where(ExecutionStepRow.feature_execution_id == eid, *self._owned(tid))
            .order_by(ExecutionStepRow.step_index)
        )
        rows = list((await self.session.scalars(stmt)).all())
        if not rows:
            await self._ensure_execution(tid, eid)
        return rows

    async def of_found_execution(self, execution_id: uuid.UUID) -> list[ExecutionStepRow]:
        """Every live step, ordered by index, of an execution this unit of work has already
        found for its tenant (so the tenant check is not repeated)."""
        found = await self.session.scalars(_STEPS_OF_EXECUTION, {"execution_id": execution_id})
        return list(found.all())

    async def _update(
        self, tenant_id: uuid.UUID | str, step_id: uuid.UUID | str, values: dict[str, Any]
    ) -> ExecutionStepRow:
        tid = as_uuid(tenant_id, "tenant")
        sid = as_uuid(step_id, "execution step")
        values["updated_at"] = func.now()
        stmt = (
            update(ExecutionStepRow)
            .where(ExecutionStepRow.id == sid, *self._owned(tid))
            .values(values)
            .returning(ExecutionStepRow)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is None:
            raise NotFound(f"execution step {step_id} not found")
        return row

    async def update_state(
        self,
        tenant_id: uuid.UUID | str,
        step_id: uuid.UUID | str,
        state: StepState,
        *,
        error: StepError | Unset | None = UNSET,
    ) -> ExecutionStepRow:
        """Set the step's state. RUNNING counts an attempt and stamps `started_at` once;
        a finished state stamps `completed_at` (database clock)."""
        values: dict[str, Any] = {"state": int(state)}
        if state is StepState.RUNNING:
            values["attempt_count"] = ExecutionStepRow.attempt_count + 1
            values["started_at"] = func.coalesce(ExecutionStepRow.started_at, func.now())
            values["completed_at"] = null()
        elif state in _FINISHED:
            values["completed_at"] = func.now()
        if error is not UNSET:
            values["error"] = null() if error is None else error.model_dump(mode="json")
        return await self._update(tenant_id, step_id, values)

    async def record_edits(
        self,
        tenant_id: uuid.UUID | str,
        step_id: uuid.UUID | str,
        edits: Sequence[FileEdit],
        *,
        commit_message: str,
        commit_timestamp: int,
    ) -> ExecutionStepRow:
        """Persist generated edits and the commit's message and time before applying them,
        so a retry re-applies the same edits and produces the same commit."""
        return await self._update(
            tenant_id,
            step_id,
            {
                "generated_edits": file_edits_adapter.dump_python(list(edits), mode="json"),
                "commit_message": commit_message,
                "commit_timestamp": commit_timestamp,
            },
        )

    async def record_commit(
        self,
        tenant_id: uuid.UUID | str,
        step_id: uuid.UUID | str,
        commit_sha: str,
        *,
        lines_added: int,
        lines_removed: int,
    ) -> ExecutionStepRow:
        """Record the commit a step produced and its line counts."""
        return await self._update(
            tenant_id,
            step_id,
            {"commit_sha": commit_sha, "lines_added": lines_added, "lines_removed": lines_removed},
        )

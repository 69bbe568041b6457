"""Feature executions: creation with the seed's validation, lookups, search and the
state machine enforced on every state change."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, literal, null, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import text

from domain.enums import FeatureState
from domain.errors import Conflict, NotFound, ValidationFailed
from domain.states import can_transition, ensure_transition
from domain.validation import constraints_errors, feature_execution_errors
from domain.values import (
    DeliveryResult,
    ExecutionError,
    ExecutionPlan,
    ExecutionProgress,
    FeatureConstraints,
)
from persistence.repositories.base import (
    UNSET,
    Page,
    TenantRepository,
    Unset,
    as_uuid,
    check_paging,
    set_values,
)
from persistence.tables import FeatureExecutionRow, RepositoryRow

_LIVE_KEY = text("idempotency_key IS NOT NULL AND deleted_at IS NULL")

# Built once: every activity reads its execution this way, and a statement built per call
# costs more CPU (construction and its cache key) than the round trip it makes.
_WITH_REPOSITORY = (
    select(FeatureExecutionRow, RepositoryRow)
    .outerjoin(
        RepositoryRow,
        (RepositoryRow.id == FeatureExecutionRow.repository_id)
        & (RepositoryRow.tenant_id == bindparam("tenant_id"))
        & RepositoryRow.deleted_at.is_(None),
    )
    .where(
        FeatureExecutionRow.id == bindparam("execution_id"),
        FeatureExecutionRow.tenant_id == bindparam("tenant_id"),
        FeatureExecutionRow.deleted_at.is_(None),
    )
)

# The lock activities need the branch an execution locks, not its whole row (plan,
# properties, result: JSON the ORM would decode on every acquire and release).
_BRANCH = select(FeatureExecutionRow.repository_id, FeatureExecutionRow.feature_branch).where(
    FeatureExecutionRow.id == bindparam("execution_id"),
    FeatureExecutionRow.tenant_id == bindparam("tenant_id"),
    FeatureExecutionRow.deleted_at.is_(None),
)


@dataclass(frozen=True)
class FeatureSearchQuery:
    """Filters of an execution search; every filter is optional except the tenant."""

    tenant_id: uuid.UUID | str
    repository_id: uuid.UUID | str | None = None
    states: list[FeatureState] = field(default_factory=list)
    created_after: datetime | None = None
    created_before: datetime | None = None
    query: str | None = None
    limit: int = 50
    offset: int = 0


def _like_pattern(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json(model: Any) -> Any:
    # SQL NULL, not the JSON literal null, so "IS NULL" keeps meaning "not recorded"
    return null() if model is None else model.model_dump(mode="json")


@functools.cache
def _move_state_statement(state: FeatureState, shape: tuple[tuple[str, bool], ...]) -> Any:
    """`move_state`'s statement to `state` setting the JSON fields of `shape` (name, whether
    it becomes SQL NULL), built once per shape: the workflow's bookkeeping runs it at every
    state change. The row's state before the update is read locked in a subquery, so the
    state returned is the one left; only states that may move to `state` match."""
    values: dict[str, Any] = {
        name: null() if to_null else bindparam(f"new_{name}", type_=JSONB)
        for name, to_null in shape
    }
    values["state"] = int(state)
    values["updated_at"] = func.now()
    if state.is_terminal:
        values["completed_at"] = func.coalesce(FeatureExecutionRow.completed_at, func.now())
    sources = [int(s) for s in FeatureState if s != state and can_transition(s, state)]
    before = (
        select(FeatureExecutionRow.id, FeatureExecutionRow.state)
        .where(
            FeatureExecutionRow.id == bindparam("of_execution"),
            FeatureExecutionRow.tenant_id == bindparam("of_tenant"),
            FeatureExecutionRow.deleted_at.is_(None),
        )
        .with_for_update()
        .subquery("before")
    )
    return (
        update(FeatureExecutionRow)
        .where(FeatureExecutionRow.id == before.c.id, before.c.state.in_(sources))
        .values(values)
        .returning(before.c.state)
        .execution_options(synchronize_session=False)
    )


class FeatureExecutionRepository(TenantRepository[FeatureExecutionRow]):
    """Create, find, search and advance the feature executions of a tenant."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, FeatureExecutionRow, "feature execution")

    async def create(
        self,
        tenant_id: uuid.UUID | str,
        repository_id: uuid.UUID | str,
        *,
        title: str,
        description: str,
        target_branch: str,
        constraints: FeatureConstraints | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
        feature_branch: str | None = None,
        requested_by: str | None = None,
        engine: str = "spec",
        changes: list[dict[str, Any]] | None = None,
        request_fingerprint: str | None = None,
        workflow_id: str | None = None,
        properties: dict[str, Any] | None = None,
        execution_id: uuid.UUID | None = None,
        continues_execution_id: uuid.UUID | None = None,
        continues_branch: str | None = None,
    ) -> FeatureExecutionRow:
        """Validate and insert a pending execution of a live repository of the tenant.

        NotFound when the repository is missing or another tenant's; Conflict (details carry
        `existing_id`) when the tenant already used this idempotency key.
        """
        constraints = constraints or FeatureConstraints()
        errors = feature_execution_errors(
            str(tenant_id) if tenant_id else None,
            str(repository_id) if repository_id else None,
            title,
            description,
            target_branch,
        )
        errors += constraints_errors(constraints)
        if errors:
            raise ValidationFailed(errors)
        tid = as_uuid(tenant_id, "tenant")
        rid = as_uuid(repository_id, "repository")
        repo_live = await self.session.scalar(
            select(RepositoryRow.id).where(
                RepositoryRow.id == rid,
                RepositoryRow.tenant_id == tid,
                RepositoryRow.deleted_at.is_(None),
            )
        )
        if repo_live is None:
            raise NotFound(f"repository {rid} not found")
        stmt = (
            insert(FeatureExecutionRow)
            .values(
                id=execution_id or uuid.uuid4(),
                tenant_id=tid,
                repository_id=rid,
                title=title,
                description=description,
                target_branch=target_branch,
                feature_branch=feature_branch,
                constraints=constraints.model_dump(mode="json"),
                idempotency_key=idempotency_key,
                correlation_id=correlation_id,
                requested_by=requested_by,
                engine=engine,
                changes=changes,
                request_fingerprint=request_fingerprint,
                workflow_id=workflow_id,
                properties=properties or {},
                continues_execution_id=continues_execution_id,
                continues_branch=continues_branch,
                state=int(FeatureState.PENDING),
            )
            .on_conflict_do_nothing(
                index_elements=["tenant_id", "idempotency_key"], index_where=_LIVE_KEY
            )
            .returning(FeatureExecutionRow)
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is None:
            existing = await self.find_by_idempotency_key(tid, idempotency_key or "")
            raise Conflict(
                f"idempotency key {idempotency_key!r} was already used by execution "
                f"{existing.id if existing else '(concurrent request)'}",
                details={"existing_id": str(existing.id) if existing else None},
            )
        return row

    async def find_by_idempotency_key(
        self, tenant_id: uuid.UUID | str, key: str
    ) -> FeatureExecutionRow | None:
        tid = as_uuid(tenant_id, "tenant")
        stmt = select(FeatureExecutionRow).where(
            FeatureExecutionRow.idempotency_key == key, *self._live(tid)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_idempotency_key(
        self, tenant_id: uuid.UUID | str, key: str
    ) -> FeatureExecutionRow:
        """The tenant's live execution created with this idempotency key; NotFound otherwise."""
        row = await self.find_by_idempotency_key(tenant_id, key)
        if row is None:
            raise self.not_found(f"with idempotency key {key!r}")
        return row

    async def get_by_correlation_id(
        self, tenant_id: uuid.UUID | str, correlation_id: str
    ) -> FeatureExecutionRow:
        """The tenant's most recent live execution with this correlation id; NotFound otherwise."""
        tid = as_uuid(tenant_id, "tenant")
        stmt = (
            select(FeatureExecutionRow)
            .where(FeatureExecutionRow.correlation_id == correlation_id, *self._live(tid))
            .order_by(FeatureExecutionRow.created_at.desc(), FeatureExecutionRow.id.desc())
            .limit(1)
        )
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise self.not_found(f"with correlation id {correlation_id!r}")
        return row

    async def search(self, query: FeatureSearchQuery) -> Page[FeatureExecutionRow]:
        """Executions matching every given filter, newest first, one page plus the total."""
        check_paging(query.limit, query.offset)
        tid = as_uuid(query.tenant_id, "tenant")
        where: list[ColumnElement[bool]] = list(self._live(tid))
        if query.repository_id is not None:
            try:
                where.append(
                    FeatureExecutionRow.repository_id == as_uuid(query.repository_id, "repository")
                )
            except NotFound:
                return Page([], 0)
        if query.states:
            where.append(FeatureExecutionRow.state.in_([int(s) for s in query.states]))
        if query.created_after is not None:
            where.append(FeatureExecutionRow.created_at > query.created_after)
        if query.created_before is not None:
            where.append(FeatureExecutionRow.created_at < query.created_before)
        if query.query:
            pattern = _like_pattern(query.query)
            where.append(
                FeatureExecutionRow.title.ilike(pattern, escape="\\")
                | FeatureExecutionRow.description.ilike(pattern, escape="\\")
            )
        # the window count gives the total in the same round trip as the page
        stmt = (
            select(FeatureExecutionRow, func.count().over().label("total"))
            .where(*where)
            .order_by(FeatureExecutionRow.created_at.desc(), FeatureExecutionRow.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            return Page([r[0] for r in rows], int(rows[0][1]))
        if query.offset == 0:
            return Page([], 0)
        total = await self.session.scalar(select(func.count()).where(*where))
        return Page([], int(total or 0))

    async def with_repository(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str
    ) -> tuple[FeatureExecutionRow, RepositoryRow]:
        """The live execution and its live repository, both the tenant's, in one statement;
        NotFound for either."""
        execution, repository = await self._live_one(_WITH_REPOSITORY, tenant_id, execution_id)
        if repository is None:
            raise NotFound(f"repository {execution.repository_id} not found")
        return execution, repository

    async def branch_of(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str
    ) -> tuple[uuid.UUID, str | None]:
        """(repository id, feature branch) of the live execution; NotFound otherwise."""
        found = await self._live_one(_BRANCH, tenant_id, execution_id)
        return found.repository_id, found.feature_branch

    async def _live_one(
        self, statement: Any, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str
    ) -> Any:
        """The one row of a built-once statement on the tenant's live execution (bound as
        `tenant_id` and `execution_id`); NotFound when there is none."""
        params = {
            "tenant_id": as_uuid(tenant_id, "tenant"),
            "execution_id": as_uuid(execution_id, self.noun),
        }
        found = (await self.session.execute(statement, params)).one_or_none()
        if found is None:
            raise self.not_found(execution_id)
        return found

    async def current_state(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str
    ) -> FeatureState:
        """The execution's state alone (one column, no ORM row); NotFound otherwise."""
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, self.noun)
        state = await self.session.scalar(
            select(FeatureExecutionRow.state).where(FeatureExecutionRow.id == eid, *self._live(tid))
        )
        if state is None:
            raise self.not_found(execution_id)
        return FeatureState(state)

    async def merge_properties(
        self, tenant_id: uuid.UUID | str, execution_id: uuid.UUID | str, properties: dict[str, Any]
    ) -> None:
        """Set these keys of the execution's properties, keeping the others, in one statement
        (no read first). NotFound when the execution is missing or another tenant's."""
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, self.noun)
        current = func.coalesce(FeatureExecutionRow.properties, literal({}, JSONB))
        stmt = (
            update(FeatureExecutionRow)
            .where(FeatureExecutionRow.id == eid, *self._live(tid))
            .values(properties=current.op("||", return_type=JSONB)(literal(properties, JSONB)))
            .returning(FeatureExecutionRow.id)
            .execution_options(synchronize_session=False)
        )
        if (await self.session.execute(stmt)).first() is None:
            raise self.not_found(execution_id)

    async def update_state(
        self,
        tenant_id: uuid.UUID | str,
        execution_id: uuid.UUID | str,
        state: FeatureState,
        *,
        plan: ExecutionPlan | Unset = UNSET,
        progress: ExecutionProgress | Unset = UNSET,
        error: ExecutionError | Unset | None = UNSET,
        result: DeliveryResult | Unset | None = UNSET,
        base_commit: str | Unset = UNSET,
        feature_branch: str | Unset = UNSET,
        workspace_path: str | Unset | None = UNSET,
        completed_at: datetime | Unset = UNSET,
    ) -> FeatureExecutionRow:
        """Move the execution to `state` (and record the given fields) in one statement.

        The WHERE clause only matches rows whose current state may move to `state`, so two
        racing writers cannot both break the state machine. InvalidTransition when it forbids
        the move, NotFound when the execution is missing or another tenant's. Entering a
        terminal state stamps `completed_at` (database clock) unless given.
        """
        values = self._values(
            plan=plan,
            progress=progress,
            error=error,
            result=result,
            base_commit=base_commit,
            feature_branch=feature_branch,
            workspace_path=workspace_path,
            completed_at=completed_at,
        )
        values["state"] = int(state)
        if state.is_terminal and "completed_at" not in values:
            values["completed_at"] = func.coalesce(FeatureExecutionRow.completed_at, func.now())
        sources = [int(s) for s in FeatureState if can_transition(s, state)]
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, self.noun)
        stmt = (
            update(FeatureExecutionRow)
            .where(
                FeatureExecutionRow.id == eid,
                FeatureExecutionRow.state.in_(sources),
                *self._live(tid),
            )
            .values(values)
            .returning(FeatureExecutionRow)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is not None:
            return row
        current = await self.get(tid, eid)
        ensure_transition(FeatureState(current.state), state)
        raise AssertionError("unreachable: the transition is allowed but the update missed")

    async def move_state(
        self,
        tenant_id: uuid.UUID | str,
        execution_id: uuid.UUID | str,
        state: FeatureState,
        *,
        progress: ExecutionProgress | Unset = UNSET,
        error: ExecutionError | Unset | None = UNSET,
        result: DeliveryResult | Unset | None = UNSET,
    ) -> FeatureState:
        """Move the execution to `state` with these fields and return the state it left, in
        one statement that neither reads the row first nor loads it back (the workflow's
        bookkeeping). Already in `state`: nothing is written and `state` is returned.
        InvalidTransition and NotFound as `update_state`."""
        fields = set_values(progress=progress, error=error, result=result)
        shape = tuple((name, fields[name] is None) for name in sorted(fields))
        params: dict[str, Any] = {
            f"new_{name}": value.model_dump(mode="json")
            for name, value in fields.items()
            if value is not None
        }
        params["of_tenant"] = tid = as_uuid(tenant_id, "tenant")
        params["of_execution"] = eid = as_uuid(execution_id, self.noun)
        stmt = _move_state_statement(state, shape)
        left = (await self.session.execute(stmt, params)).scalar_one_or_none()
        if left is not None:
            return FeatureState(left)
        current = await self.current_state(tid, eid)  # NotFound when missing
        if current == state:
            return state
        ensure_transition(current, state)
        raise AssertionError("unreachable: the transition is allowed but the update missed")

    async def update(
        self,
        tenant_id: uuid.UUID | str,
        execution_id: uuid.UUID | str,
        *,
        plan: ExecutionPlan | Unset = UNSET,
        progress: ExecutionProgress | Unset = UNSET,
        error: ExecutionError | Unset | None = UNSET,
        result: DeliveryResult | Unset | None = UNSET,
        base_commit: str | Unset = UNSET,
        feature_branch: str | Unset = UNSET,
        workspace_path: str | Unset | None = UNSET,
        workflow_id: str | Unset = UNSET,
        completed_at: datetime | Unset = UNSET,
    ) -> FeatureExecutionRow:
        """Record plan, progress, error, result, commit or branch without a state change."""
        values = self._values(
            plan=plan,
            progress=progress,
            error=error,
            result=result,
            base_commit=base_commit,
            feature_branch=feature_branch,
            workspace_path=workspace_path,
            workflow_id=workflow_id,
            completed_at=completed_at,
        )
        tid = as_uuid(tenant_id, "tenant")
        eid = as_uuid(execution_id, self.noun)
        stmt = (
            update(FeatureExecutionRow)
            .where(FeatureExecutionRow.id == eid, *self._live(tid))
            .values(values)
            .returning(FeatureExecutionRow)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is None:
            raise self.not_found(execution_id)
        return row

    @staticmethod
    def _values(**fields: Any) -> dict[str, Any]:
        values = set_values(**fields)
        for name in ("plan", "progress", "error", "result"):
            if name in values:
                values[name] = _json(values[name])
        values["updated_at"] = func.now()
        return values

"""Shared machinery of the repositories: tenant scoping, paging, "not found" and UNSET.

Every repository takes an AsyncSession and never commits: the unit of work owns the
transaction. A row of another tenant is reported exactly like a missing one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from sqlalchemy import ColumnElement, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from domain.errors import FieldError, NotFound, ValidationFailed
from persistence.tables import FeatureExecutionRow

MAX_PAGE_SIZE = 500


class _Unset(Enum):
    """Marker for "leave this column as it is" in partial updates (None is a real value)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset.UNSET
Unset = _Unset

T = TypeVar("T")


class Page(NamedTuple, Generic[T]):
    """One page of rows and the total number of rows matching the query."""

    items: list[T]
    total: int


def as_uuid(value: uuid.UUID | str, field: str) -> uuid.UUID:
    """Coerce an id; an unparseable id can never exist, so it is "not found"."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{field} {value!r} not found") from None


def check_paging(limit: int, offset: int) -> None:
    """Refuse page sizes the database should not be asked for."""
    errors = []
    if limit < 1 or limit > MAX_PAGE_SIZE:
        errors.append(FieldError("limit", f"limit must be between 1 and {MAX_PAGE_SIZE}"))
    if offset < 0:
        errors.append(FieldError("offset", "offset must be 0 or more"))
    if errors:
        raise ValidationFailed(errors)


def set_values(**fields: Any) -> dict[str, Any]:
    """The subset of keyword arguments a partial update actually sets."""
    return {name: value for name, value in fields.items() if value is not UNSET}


def execution_owned_by(
    tenant_id: uuid.UUID, execution_id_column: Mapped[uuid.UUID]
) -> ColumnElement[bool]:
    """Child rows belong to a tenant through their (live) parent execution."""
    return exists(
        select(1).where(
            FeatureExecutionRow.id == execution_id_column,
            FeatureExecutionRow.tenant_id == tenant_id,
            FeatureExecutionRow.deleted_at.is_(None),
        )
    )


_FIND: dict[type[Any], Any] = {}


def _find_statement(model: type[Any]) -> Any:
    """`find`'s statement for `model`, built once (construction and its cache key cost more
    CPU than the round trip; the lock and bookkeeping activities run it every time)."""
    if model not in _FIND:
        _FIND[model] = select(model).where(
            model.id == bindparam("id"),
            model.tenant_id == bindparam("tenant"),
            model.deleted_at.is_(None),
        )
    return _FIND[model]


class TenantOwnedRow(Protocol):
    """What the generic repository needs of a tenant-owned, soft-deletable table."""

    id: Mapped[uuid.UUID]
    tenant_id: Mapped[uuid.UUID]
    deleted_at: Mapped[datetime | None]


RowT = TypeVar("RowT", bound=Any)


@dataclass
class TenantRepository(Generic[RowT]):
    """get / add / soft-delete by id for a table with `tenant_id` and `deleted_at`."""

    session: AsyncSession
    model: type[RowT]
    noun: str

    def _live(self, tenant_id: uuid.UUID) -> list[ColumnElement[bool]]:
        return [self.model.tenant_id == tenant_id, self.model.deleted_at.is_(None)]

    def not_found(self, row_id: object) -> NotFound:
        return NotFound(f"{self.noun} {row_id} not found")

    async def find(self, tenant_id: uuid.UUID | str, row_id: uuid.UUID | str) -> RowT | None:
        """The live row of this tenant with this id, or None."""
        tid = as_uuid(tenant_id, "tenant")
        try:
            rid = as_uuid(row_id, self.noun)
        except NotFound:
            return None
        found = await self.session.scalars(_find_statement(self.model), {"id": rid, "tenant": tid})
        row: RowT | None = found.one_or_none()
        return row

    async def get(self, tenant_id: uuid.UUID | str, row_id: uuid.UUID | str) -> RowT:
        """The live row of this tenant with this id; NotFound otherwise."""
        row = await self.find(tenant_id, row_id)
        if row is None:
            raise self.not_found(row_id)
        return row

    async def add(self, row: RowT) -> RowT:
        """Stage a new row and flush it so database errors surface here."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def soft_delete(self, tenant_id: uuid.UUID | str, row_id: uuid.UUID | str) -> None:
        """Mark the row deleted; every read ignores it from now on. NotFound if absent."""
        tid = as_uuid(tenant_id, "tenant")
        rid = as_uuid(row_id, self.noun)
        stmt = (
            update(self.model)
            .where(self.model.id == rid, *self._live(tid))
            .values(self._deleted_values())
            .returning(self.model.id)
            .execution_options(synchronize_session=False)
        )
        if (await self.session.execute(stmt)).first() is None:
            raise self.not_found(row_id)

    def _deleted_values(self) -> dict[str, Any]:
        return {"deleted_at": func.now(), "updated_at": func.now()}

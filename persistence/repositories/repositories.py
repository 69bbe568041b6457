"""Registered git repositories of a tenant: names are unique per tenant among live rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.enums import GitProvider, State
from domain.errors import Conflict
from domain.validation import validate_repository
from persistence.repositories.base import (
    UNSET,
    Page,
    TenantRepository,
    Unset,
    as_uuid,
    check_paging,
    set_values,
)
from persistence.tables import RepositoryRow

_LIVE_NAME = text("deleted_at IS NULL")


class RepositoryRepository(TenantRepository[RepositoryRow]):
    """Create, read, list, update and soft-delete the repositories of one tenant."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, RepositoryRow, "repository")

    def _name_taken(self, name: str) -> Conflict:
        return Conflict("a repository with this name already exists in this tenant")

    async def create(
        self,
        tenant_id: uuid.UUID | str,
        name: str,
        url: str,
        *,
        default_branch: str = "main",
        provider: GitProvider = GitProvider.UNSPECIFIED,
        credential_id: uuid.UUID | None = None,
        properties: dict[str, Any] | None = None,
    ) -> RepositoryRow:
        """Validate and insert; Conflict when a live repository has the same name."""
        validate_repository(str(tenant_id) if tenant_id else None, name, url)
        tid = as_uuid(tenant_id, "tenant")
        # ON CONFLICT keeps the caller's transaction usable when the name is taken
        stmt = (
            insert(RepositoryRow)
            .values(
                id=uuid.uuid4(),
                tenant_id=tid,
                name=name,
                url=url,
                default_branch=default_branch or "main",
                provider=int(provider),
                credential_id=credential_id,
                state=int(State.ACTIVE),
                properties=properties or {},
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "name"], index_where=_LIVE_NAME)
            .returning(RepositoryRow)
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is None:
            raise self._name_taken(name)
        return row

    async def find_by_name(self, tenant_id: uuid.UUID | str, name: str) -> RepositoryRow | None:
        tid = as_uuid(tenant_id, "tenant")
        stmt = select(RepositoryRow).where(RepositoryRow.name == name, *self._live(tid))
        return (await self.session.scalars(stmt)).one_or_none()

    async def get_by_name(self, tenant_id: uuid.UUID | str, name: str) -> RepositoryRow:
        """The live repository of this tenant with this name; NotFound otherwise."""
        row = await self.find_by_name(tenant_id, name)
        if row is None:
            raise self.not_found(repr(name))
        return row

    async def list_by_tenant(
        self, tenant_id: uuid.UUID | str, *, limit: int = 50, offset: int = 0
    ) -> Page[RepositoryRow]:
        """Live repositories of the tenant by name, one page, with the total count."""
        check_paging(limit, offset)
        tid = as_uuid(tenant_id, "tenant")
        stmt = (
            select(RepositoryRow, func.count().over().label("total"))
            .where(*self._live(tid))
            .order_by(RepositoryRow.name, RepositoryRow.id)
            .limit(limit)
            .offset(offset)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            return Page([r[0] for r in rows], int(rows[0][1]))
        total = await self.session.scalar(select(func.count()).where(*self._live(tid)))
        return Page([], int(total or 0))

    async def update(
        self,
        tenant_id: uuid.UUID | str,
        repository_id: uuid.UUID | str,
        *,
        name: str | Unset = UNSET,
        url: str | Unset = UNSET,
        default_branch: str | Unset = UNSET,
        provider: GitProvider | Unset = UNSET,
        credential_id: uuid.UUID | Unset | None = UNSET,
        state: State | Unset = UNSET,
        properties: dict[str, Any] | Unset = UNSET,
        last_accessed_at: Any = UNSET,
    ) -> RepositoryRow:
        """Change the given fields only (tenant, id and timestamps are not updatable)."""
        current = await self.get(tenant_id, repository_id)
        validate_repository(
            str(current.tenant_id),
            current.name if name is UNSET else name,
            current.url if url is UNSET else url,
        )
        values = set_values(
            name=name,
            url=url,
            default_branch=default_branch,
            provider=provider if provider is UNSET else int(provider),
            credential_id=credential_id,
            state=state if state is UNSET else int(state),
            properties=properties,
            last_accessed_at=last_accessed_at,
        )
        if not values:
            return current
        values["updated_at"] = func.now()
        stmt = (
            update(RepositoryRow)
            .where(RepositoryRow.id == current.id, *self._live(current.tenant_id))
            .values(values)
            .returning(RepositoryRow)
            .execution_options(populate_existing=True)
        )
        try:
            # a savepoint, so a lost race on the name leaves the caller's transaction usable
            async with self.session.begin_nested():
                row = (await self.session.scalars(stmt)).one_or_none()
        except IntegrityError as exc:
            if "idx_repo_tenant_name" in str(exc.orig):
                raise self._name_taken(str(name)) from None
            raise
        if row is None:
            raise self.not_found(repository_id)
        return row

    async def get_for_update(
        self, tenant_id: uuid.UUID | str, repository_id: uuid.UUID | str
    ) -> RepositoryRow:
        """The live row, locked until the transaction ends: a read-modify-write (merging
        properties) must not lose a concurrent writer's change. NotFound otherwise."""
        tid = as_uuid(tenant_id, "tenant")
        rid = as_uuid(repository_id, self.noun)
        stmt = (
            select(RepositoryRow)
            .where(RepositoryRow.id == rid, *self._live(tid))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is None:
            raise self.not_found(repository_id)
        return row

    def _deleted_values(self) -> dict[str, Any]:
        return {**super()._deleted_values(), "state": int(State.DELETED)}

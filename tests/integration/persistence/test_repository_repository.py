"""RepositoryRepository against a real Postgres: names, soft delete, updates, paging."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import GitProvider, State
from domain.errors import Conflict, NotFound, ValidationFailed
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_repository, new_tenant

URL = "https://git.example.com/acme/app.git"


async def test_same_name_twice_in_one_tenant_is_refused_with_a_clear_conflict(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    await committed_repository(sessions, tenant, "payments")
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(
            Conflict, match="a repository with this name already exists in this tenant"
        ):
            await uow.repositories.create(tenant, "payments", URL)
        # the transaction is still usable after the refusal
        other = await uow.repositories.create(tenant, "payments-2", URL)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        page = await uow.repositories.list_by_tenant(tenant)
        assert sorted(r.name for r in page.items) == ["payments", "payments-2"]
        assert other.id in {r.id for r in page.items}


async def test_same_name_in_two_tenants_is_fine(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    a = await committed_repository(sessions, new_tenant(), "shared-name")
    b = await committed_repository(sessions, new_tenant(), "shared-name")
    assert a.id != b.id and a.name == b.name


async def test_soft_deleted_repository_frees_its_name_and_disappears_from_reads(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    old = await committed_repository(sessions, tenant, "reborn")
    async with UnitOfWork(sessions) as uow:
        await uow.repositories.soft_delete(tenant, old.id)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(NotFound):
            await uow.repositories.get(tenant, old.id)
        assert await uow.repositories.find_by_name(tenant, "reborn") is None
        new = await uow.repositories.create(tenant, "reborn", URL)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        assert (await uow.repositories.get_by_name(tenant, "reborn")).id == new.id
        assert (await uow.repositories.list_by_tenant(tenant)).total == 1
        with pytest.raises(NotFound, match=str(old.id)):
            await uow.repositories.soft_delete(tenant, old.id)


async def test_create_validates_with_the_seed_rules_and_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(ValidationFailed) as failed:
            await uow.repositories.create(tenant, "", "has space")
        assert [e.message for e in failed.value.errors] == ["name is required", "url must be valid"]
        with pytest.raises(ValidationFailed, match="name must be 255 characters or less"):
            await uow.repositories.create(tenant, "n" * 256, URL)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        assert (await uow.repositories.list_by_tenant(tenant)).total == 0


async def test_update_changes_only_the_given_fields_and_revalidates(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    repo = await committed_repository(sessions, tenant, "billing")
    credential = uuid.uuid4()
    async with UnitOfWork(sessions) as uow:
        updated = await uow.repositories.update(
            tenant,
            repo.id,
            default_branch="develop",
            provider=GitProvider.GITEA,
            credential_id=credential,
        )
        assert (updated.name, updated.url) == ("billing", URL)
        assert (updated.default_branch, updated.provider) == ("develop", GitProvider.GITEA)
        with pytest.raises(ValidationFailed, match="url must be valid"):
            await uow.repositories.update(tenant, repo.id, url="not a url")
        cleared = await uow.repositories.update(tenant, repo.id, credential_id=None)
        assert cleared.credential_id is None
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        stored = await uow.repositories.get(tenant, repo.id)
        assert stored.default_branch == "develop" and stored.url == URL
        assert stored.credential_id is None
    with pytest.raises(TypeError):
        async with UnitOfWork(sessions) as uow:
            await uow.repositories.update(tenant, repo.id, tenant_id=new_tenant())  # type: ignore[call-arg]


async def test_renaming_onto_a_live_name_is_a_conflict_and_keeps_the_transaction_usable(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    await committed_repository(sessions, tenant, "taken")
    mine = await committed_repository(sessions, tenant, "mine")
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(Conflict, match="a repository with this name already exists"):
            await uow.repositories.update(tenant, mine.id, name="taken")
        renamed = await uow.repositories.update(tenant, mine.id, name="free")
        await uow.commit()
    assert renamed.name == "free"


async def test_soft_delete_marks_the_repository_deleted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    repo = await committed_repository(sessions, tenant)
    async with UnitOfWork(sessions) as uow:
        await uow.repositories.soft_delete(tenant, repo.id)
        await uow.commit()
    async with sessions() as session:
        from persistence.tables import RepositoryRow

        row = await session.get(RepositoryRow, repo.id)
        assert row is not None and row.deleted_at is not None and row.state == State.DELETED


async def test_list_by_tenant_pages_by_name_and_reports_the_total(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = new_tenant()
    for name in ["e", "c", "a", "d", "b"]:
        await committed_repository(sessions, tenant, name)
    async with UnitOfWork(sessions) as uow:
        first = await uow.repositories.list_by_tenant(tenant, limit=2)
        second = await uow.repositories.list_by_tenant(tenant, limit=2, offset=2)
        last = await uow.repositories.list_by_tenant(tenant, limit=2, offset=4)
        beyond = await uow.repositories.list_by_tenant(tenant, limit=2, offset=10)
        with pytest.raises(ValidationFailed, match="limit must be between 1 and 500"):
            await uow.repositories.list_by_tenant(tenant, limit=0)
    assert [r.name for r in first.items] == ["a", "b"]
    assert [r.name for r in second.items] == ["c", "d"]
    assert [r.name for r in last.items] == ["e"]
    assert (first.total, second.total, last.total) == (5, 5, 5)
    assert beyond == ([], 5)

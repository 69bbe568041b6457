"""Credentials in Postgres: round trips, bindings to their row, replacement, deletion."""

from __future__ import annotations

import base64
import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import CredentialType
from domain.errors import NotFound, ValidationFailed
from domain.values import CredentialData
from persistence.credentials import CredentialRepository
from persistence.tables import CredentialRow, RepositoryRow
from persistence.vault import CredentialUndecryptable, Keyring, UnknownVaultKey
from tests.integration.vault.conftest import add_repository, make_keyring

SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nplanted-ssh-key-5f2e\n-----END OPENSSH PRIVATE KEY-----"
)

EXAMPLES: dict[CredentialType, CredentialData] = {
    CredentialType.SSH_KEY: CredentialData(
        ssh_private_key=SecretStr(SSH_KEY), ssh_passphrase=SecretStr("planted-pass-91aa")
    ),
    CredentialType.TOKEN: CredentialData(token=SecretStr("planted-token-3b7c")),
    CredentialType.BASIC: CredentialData(
        username="deploy", password=SecretStr("planted-password-d04e")
    ),
    CredentialType.OAUTH: CredentialData(
        oauth_token=SecretStr("planted-oauth-77f0"),
        oauth_refresh_token=SecretStr("planted-refresh-12ab"),
    ),
}


async def _row(session: AsyncSession, repository_id: uuid.UUID) -> CredentialRow:
    row = await session.scalar(
        select(CredentialRow).where(
            CredentialRow.repository_id == repository_id, CredentialRow.deleted_at.is_(None)
        )
    )
    assert row is not None
    return row


@pytest.mark.parametrize("credential_type", list(EXAMPLES))
async def test_every_credential_type_round_trips(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring, credential_type: CredentialType
) -> None:
    tenant = uuid.uuid4()
    data = EXAMPLES[credential_type]
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        await CredentialRepository(session, keyring).set_credential(
            tenant, repository_id, credential_type, data
        )
    async with sessions() as session:
        loaded = await CredentialRepository(session, keyring).load_credential(tenant, repository_id)
        row = await _row(session, repository_id)
    assert loaded is not None
    assert loaded[0] is credential_type
    assert loaded[1].plaintext_json() == data.plaintext_json()
    assert row.encryption_key_id == "k1"
    for secret in data.secret_values():
        assert secret not in row.encrypted_data
        assert base64.b64encode(secret.encode()).decode()[:12] not in row.encrypted_data


async def test_set_replaces_the_one_live_credential_and_links_the_repository(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        vault = CredentialRepository(session, keyring)
        first = await vault.set_credential(
            tenant, repository_id, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
        )
        await vault.mark_validated(tenant, repository_id)
        second = await vault.set_credential(
            tenant, repository_id, CredentialType.BASIC, EXAMPLES[CredentialType.BASIC]
        )
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(CredentialRow).where(CredentialRow.repository_id == repository_id)
            )
        ).all()
        repository = await session.get(RepositoryRow, repository_id)
        loaded = await CredentialRepository(session, keyring).load_credential(tenant, repository_id)
    assert len(rows) == 1
    assert second.id == first.id == rows[0].id
    assert repository is not None and repository.credential_id == first.id
    assert second.type is CredentialType.BASIC and second.last_validated_at is None
    assert loaded is not None and loaded[1].username == "deploy"


async def test_describe_shows_type_and_timestamps_but_no_secret_or_ciphertext(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        vault = CredentialRepository(session, keyring)
        await vault.set_credential(
            tenant, repository_id, CredentialType.OAUTH, EXAMPLES[CredentialType.OAUTH]
        )
        validated = await vault.mark_validated(tenant, repository_id)
        view = await vault.describe(tenant, repository_id)
        row = await _row(session, repository_id)
    assert view is not None
    assert set(view.__dataclass_fields__) == {
        "id",
        "repository_id",
        "type",
        "created_at",
        "updated_at",
        "last_validated_at",
    }
    assert view.type is CredentialType.OAUTH
    assert view.last_validated_at == validated.last_validated_at is not None
    assert row.encrypted_data not in repr(view) and "planted" not in repr(view)


async def test_ciphertext_copied_to_another_repository_does_not_decrypt(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    async with sessions() as session, session.begin():
        source = await add_repository(session, tenant)
        target = await add_repository(session, tenant)
        vault = CredentialRepository(session, keyring)
        for repository_id in (source, target):
            await vault.set_credential(
                tenant, repository_id, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
            )
        stolen = await _row(session, source)
        victim = await _row(session, target)
        victim.encrypted_data = stolen.encrypted_data
    async with sessions() as session:
        with pytest.raises(CredentialUndecryptable, match="wrong tenant, repository or tampered"):
            await CredentialRepository(session, keyring).load_credential(tenant, target)


async def test_ciphertext_copied_to_another_tenant_does_not_decrypt(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    tenant, intruder = uuid.uuid4(), uuid.uuid4()
    async with sessions() as session, session.begin():
        source = await add_repository(session, tenant)
        await CredentialRepository(session, keyring).set_credential(
            tenant, source, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
        )
        row = await _row(session, source)
        # the same row relabelled as the other tenant's: the ids in the AAD no longer match
        row.tenant_id = intruder
        intruder_repository = await session.get(RepositoryRow, source)
        assert intruder_repository is not None
        intruder_repository.tenant_id = intruder
    async with sessions() as session:
        with pytest.raises(CredentialUndecryptable):
            await CredentialRepository(session, keyring).load_credential(intruder, source)
        # and the original tenant no longer sees it at all
        assert await CredentialRepository(session, keyring).load_credential(tenant, source) is None


async def test_a_flipped_byte_in_the_stored_ciphertext_is_detected(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        await CredentialRepository(session, keyring).set_credential(
            tenant, repository_id, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
        )
        row = await _row(session, repository_id)
        raw = bytearray(base64.b64decode(row.encrypted_data[3:]))
        raw[-5] ^= 0x40
        row.encrypted_data = "v1:" + base64.b64encode(bytes(raw)).decode()
    async with sessions() as session:
        with pytest.raises(CredentialUndecryptable) as caught:
            await CredentialRepository(session, keyring).load_credential(tenant, repository_id)
    assert str(row.id) in str(caught.value)


async def test_unknown_key_id_fails_naming_the_key_id(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    writer = make_keyring("vanished-key")
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        await CredentialRepository(session, writer).set_credential(
            tenant, repository_id, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
        )
    async with sessions() as session:
        with pytest.raises(UnknownVaultKey, match="'vanished-key' is not in the keyring") as caught:
            await CredentialRepository(session, make_keyring("other")).load_credential(
                tenant, repository_id
            )
    assert base64.b64encode(writer.key("vanished-key")).decode() not in str(caught.value)


async def test_delete_removes_the_secret_and_unlinks_the_repository(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        vault = CredentialRepository(session, keyring)
        view = await vault.set_credential(
            tenant, repository_id, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
        )
        assert await vault.delete_credential(tenant, repository_id) is True
        assert await vault.delete_credential(tenant, repository_id) is False
    async with sessions() as session:
        vault = CredentialRepository(session, keyring)
        assert await vault.load_credential(tenant, repository_id) is None
        assert await vault.describe(tenant, repository_id) is None
        row = await session.get(CredentialRow, view.id)
        repository = await session.get(RepositoryRow, repository_id)
    assert row is not None and row.deleted_at is not None
    assert row.encrypted_data == "" and row.encryption_key_id == ""
    assert repository is not None and repository.credential_id is None


async def test_incomplete_credential_is_refused_naming_the_missing_field(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    tenant = uuid.uuid4()
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        vault = CredentialRepository(session, keyring)
        with pytest.raises(ValidationFailed, match="basic credential requires password"):
            await vault.set_credential(
                tenant, repository_id, CredentialType.BASIC, CredentialData(username="u")
            )
        with pytest.raises(ValidationFailed, match="ssh_key credential requires ssh_private_key"):
            await vault.set_credential(
                tenant, repository_id, CredentialType.SSH_KEY, EXAMPLES[CredentialType.TOKEN]
            )


async def test_another_tenants_repository_is_not_found(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    async with sessions() as session, session.begin():
        repository_id = await add_repository(session, owner)
        vault = CredentialRepository(session, keyring)
        await vault.set_credential(
            owner, repository_id, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
        )
        with pytest.raises(NotFound):
            await vault.set_credential(
                other, repository_id, CredentialType.TOKEN, EXAMPLES[CredentialType.TOKEN]
            )
        with pytest.raises(NotFound):
            await vault.mark_validated(other, repository_id)
        assert await vault.load_credential(other, repository_id) is None
        assert await vault.describe(other, repository_id) is None

"""Key rotation: re-wrap under the new primary in committed batches, resumable."""

from __future__ import annotations

import base64
import threading
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import CredentialType
from domain.values import CredentialData
from persistence.credentials import CredentialRepository, count_under_key, rotate_keys
from persistence.setup_secrets import SetupSecrets
from persistence.tables import CredentialRow
from persistence.vault import Keyring, UnknownVaultKey
from tests.integration.vault.conftest import add_repository, make_keyring

COUNT = 5


async def _seed(
    sessions: async_sessionmaker[AsyncSession], keyring: Keyring
) -> list[tuple[uuid.UUID, uuid.UUID, str]]:
    """COUNT credentials under the keyring's primary; returns (tenant, repository, token)."""
    seeded = []
    async with sessions() as session, session.begin():
        for _ in range(COUNT):
            tenant = uuid.uuid4()
            repository_id = await add_repository(session, tenant)
            token = f"planted-rotation-{uuid.uuid4().hex[:8]}"
            await CredentialRepository(session, keyring).set_credential(
                tenant, repository_id, CredentialType.TOKEN, CredentialData(token=token)
            )
            seeded.append((tenant, repository_id, token))
    return seeded


async def _ciphertexts(sessions: async_sessionmaker[AsyncSession]) -> dict[uuid.UUID, bytes]:
    """The data nonce + ciphertext part of every envelope (what rotation must not touch)."""
    async with sessions() as session:
        rows = (await session.scalars(select(CredentialRow))).all()
    return {row.id: base64.b64decode(row.encrypted_data[3:])[61:] for row in rows}


async def _assert_all_decrypt(
    sessions: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    seeded: list[tuple[uuid.UUID, uuid.UUID, str]],
) -> None:
    async with sessions() as session:
        vault = CredentialRepository(session, keyring)
        for tenant, repository_id, token in seeded:
            loaded = await vault.load_credential(tenant, repository_id)
            assert loaded is not None and loaded[1].token is not None
            assert loaded[1].token.get_secret_value() == token


async def test_rotation_rewraps_everything_under_the_new_primary(
    private_sessions: async_sessionmaker[AsyncSession],
) -> None:
    old = make_keyring("k-old")
    seeded = await _seed(private_sessions, old)
    before = await _ciphertexts(private_sessions)
    rotated = old.with_new_primary("k-new")

    report = await rotate_keys(private_sessions, rotated, batch_size=2)

    assert (report.rewrapped, report.batches, report.completed) == (COUNT, 3, True)
    assert report.primary_key_id == "k-new"
    assert await count_under_key(private_sessions, "k-old") == 0
    async with private_sessions() as session:
        key_ids = set((await session.scalars(select(CredentialRow.encryption_key_id))).all())
    assert key_ids == {"k-new"}
    # only the data keys moved: nonce and ciphertext of every credential are byte-identical
    assert await _ciphertexts(private_sessions) == before
    # the retired key is no longer needed
    await _assert_all_decrypt(private_sessions, rotated.without("k-old"), seeded)
    again = await rotate_keys(private_sessions, rotated, batch_size=2)
    assert (again.rewrapped, again.completed) == (0, True)


async def test_cancelled_rotation_keeps_its_committed_batch_and_resumes(
    private_sessions: async_sessionmaker[AsyncSession],
) -> None:
    old = make_keyring("k-old")
    seeded = await _seed(private_sessions, old)
    rotated = old.with_new_primary("k-new")
    cancel = threading.Event()

    first = await rotate_keys(
        private_sessions, rotated, batch_size=2, progress=lambda b, n: cancel.set(), cancel=cancel
    )

    assert (first.rewrapped, first.batches, first.interrupted) == (2, 1, True)
    assert await count_under_key(private_sessions, "k-old") == COUNT - 2
    # mid-rotation every credential still opens with the full keyring
    await _assert_all_decrypt(private_sessions, rotated, seeded)
    resumed = await rotate_keys(private_sessions, rotated, batch_size=2)
    assert (resumed.rewrapped, resumed.completed) == (COUNT - 2, True)
    assert await count_under_key(private_sessions, "k-old") == 0
    await _assert_all_decrypt(private_sessions, rotated.without("k-old"), seeded)


async def test_rotation_crashing_after_one_batch_resumes_where_it_stopped(
    private_sessions: async_sessionmaker[AsyncSession],
) -> None:
    old = make_keyring("k-old")
    seeded = await _seed(private_sessions, old)
    rotated = old.with_new_primary("k-new")

    def crash(batches: int, rewrapped: int) -> None:
        raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError, match="worker killed"):
        await rotate_keys(private_sessions, rotated, batch_size=2, progress=crash)

    assert await count_under_key(private_sessions, "k-old") == COUNT - 2
    resumed = await rotate_keys(private_sessions, rotated, batch_size=2)
    assert resumed.rewrapped == COUNT - 2
    assert await count_under_key(private_sessions, "k-old") == 0
    await _assert_all_decrypt(private_sessions, rotated.without("k-old"), seeded)


async def test_rotation_without_the_old_key_fails_naming_it_and_changes_nothing(
    private_sessions: async_sessionmaker[AsyncSession],
) -> None:
    old = make_keyring("k-old")
    await _seed(private_sessions, old)
    before = await _ciphertexts(private_sessions)
    with pytest.raises(UnknownVaultKey, match="'k-old'"):
        await rotate_keys(private_sessions, make_keyring("k-new"), batch_size=2)
    assert await count_under_key(private_sessions, "k-old") == COUNT
    assert await _ciphertexts(private_sessions) == before


async def test_rotation_rewraps_setup_secrets_too_so_the_old_key_can_be_retired(
    private_sessions: async_sessionmaker[AsyncSession],
) -> None:
    old = make_keyring("k-old")
    tenant = uuid.uuid4()
    async with private_sessions() as session, session.begin():
        repository_id = await add_repository(session, tenant)
        await SetupSecrets(session, old).put(tenant, repository_id, "INDEX_TOKEN", "tok-rotate")
    assert await count_under_key(private_sessions, "k-old") == 1
    rotated = old.with_new_primary("k-new")

    report = await rotate_keys(private_sessions, rotated)

    assert report.completed and report.rewrapped == 1
    assert await count_under_key(private_sessions, "k-old") == 0
    async with private_sessions() as session:
        loaded = await SetupSecrets(session, rotated.without("k-old")).load(tenant, repository_id)
    assert loaded == {"INDEX_TOKEN": "tok-rotate"}

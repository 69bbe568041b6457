"""Planted secrets never reach logs or output, even with DEBUG logging and SQL echo on."""

from __future__ import annotations

import base64
import logging
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import CredentialType
from domain.values import CredentialData
from persistence.credentials import CredentialRepository, rotate_keys
from persistence.tables import CredentialRow
from persistence.vault import CredentialUndecryptable
from tests.integration.vault.conftest import add_repository, make_keyring

PLANTED = ["planted-secret-token-0a9f", "planted-secret-password-6e21"]


async def test_planted_secrets_never_appear_in_logs_or_output(
    private_sessions: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    # SQL statements and their parameters are logged too: the secret must not be among them
    logging.getLogger("sqlalchemy.engine").setLevel(logging.DEBUG)
    keyring = make_keyring("k1")
    tenant = uuid.uuid4()
    data = CredentialData(username="deploy", password=PLANTED[1], token=PLANTED[0])
    errors: list[str] = []
    try:
        async with private_sessions() as session, session.begin():
            repository_id = await add_repository(session, tenant)
            vault = CredentialRepository(session, keyring)
            view = await vault.set_credential(tenant, repository_id, CredentialType.BASIC, data)
            loaded = await vault.load_credential(tenant, repository_id)
            logging.getLogger("builder.test").debug("loaded %r view %r", loaded, view)
            print(repr(data), repr(loaded), repr(keyring), view)
        async with private_sessions() as session, session.begin():
            row = await session.get(CredentialRow, view.id)
            assert row is not None
            row.repository_id = await add_repository(session, tenant)
        async with private_sessions() as session:
            try:
                await CredentialRepository(session, keyring).load_credential(
                    tenant, row.repository_id
                )
            except CredentialUndecryptable as error:
                errors.append(f"{error} {error.details}")
        await rotate_keys(private_sessions, keyring.with_new_primary("k2"))
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)

    captured = capsys.readouterr()
    assert caplog.records, "DEBUG logging captured nothing: the test would prove nothing"
    assert any("INSERT INTO credentials" in r.getMessage() for r in caplog.records)
    assert errors, "the moved ciphertext should have failed to decrypt"
    messages = [r.getMessage() for r in caplog.records]
    haystack = "\n".join([caplog.text, *messages, captured.out, captured.err, *errors])
    for secret in PLANTED:
        assert secret not in haystack
        assert base64.b64encode(secret.encode()).decode()[:16] not in haystack
    for key_id in ("k1",):
        assert base64.b64encode(keyring.key(key_id)).decode() not in haystack

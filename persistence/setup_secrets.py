"""Setup-only secrets of a repository: vault-encrypted (AEAD bound to tenant, repository and
secret id), written by the API, listed by name only, decrypted only for the setup phase."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import FieldError, NotFound, ValidationFailed
from persistence.tables import RepositoryRow, SetupSecretRow
from persistence.vault import Envelope, Keyring, SetupSecretBinding, open_envelope, seal

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
MAX_VALUE_BYTES = 8192
MAX_SECRETS = 50
# names the sandbox sets itself: a secret must not replace them
RESERVED_NAMES = frozenset(
    {"PATH", "HOME", "TMPDIR", "USER", "LOGNAME", "VIRTUAL_ENV", "SANDBOX_RUN_MARKER",
     "HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY", "no_proxy",
     "npm_config_proxy", "npm_config_https_proxy", "LD_PRELOAD", "LD_LIBRARY_PATH"}
)  # fmt: skip


@dataclass(frozen=True)
class SetupSecretView:
    """What the API shows of a secret: never its value."""

    name: str
    created_at: datetime
    updated_at: datetime


def name_errors(name: str) -> list[FieldError]:
    if not re.match(NAME_PATTERN, name):
        return [FieldError("name", "a secret's name is an environment variable name: "
                                   "letters, digits and _, not starting with a digit")]  # fmt: skip
    if name in RESERVED_NAMES:
        return [FieldError("name", "this variable is set by the sandbox itself")]
    return []


class SetupSecrets:
    """Setup secrets of the tenant's repositories (never commits: the unit of work does)."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self._session = session
        self._keyring = keyring

    async def _repository(self, tenant_id: uuid.UUID, repository_id: uuid.UUID) -> None:
        row = await self._session.get(RepositoryRow, repository_id)
        if row is None or row.tenant_id != tenant_id or row.deleted_at is not None:
            raise NotFound(f"repository {repository_id} not found")

    async def put(
        self, tenant_id: uuid.UUID, repository_id: uuid.UUID, name: str, value: str
    ) -> SetupSecretView:
        """Create or replace the secret `name`. Raises ValidationFailed (bad name, empty or
        oversized value, too many secrets; never echoing the value) or NotFound."""
        errors = name_errors(name)
        if not value or len(value.encode()) > MAX_VALUE_BYTES:
            errors.append(FieldError("value", f"a value is 1 to {MAX_VALUE_BYTES} bytes"))
        if errors:
            raise ValidationFailed(errors)
        await self._repository(tenant_id, repository_id)
        row = await self._row(repository_id, name)
        if row is None:
            count = len(await self._rows(repository_id))
            if count >= MAX_SECRETS:
                raise ValidationFailed(
                    [FieldError("name", f"a repository has at most {MAX_SECRETS} setup secrets")]
                )
            row = SetupSecretRow(
                id=uuid.uuid4(), tenant_id=tenant_id, repository_id=repository_id, name=name
            )
            self._session.add(row)
        binding = SetupSecretBinding(tenant_id, repository_id, row.id)
        envelope = seal(self._keyring, binding, value.encode())
        row.encrypted_data = envelope.blob
        row.encryption_key_id = envelope.key_id
        await self._session.flush()
        await self._session.refresh(row)
        return SetupSecretView(row.name, row.created_at, row.updated_at)

    async def names(self, tenant_id: uuid.UUID, repository_id: uuid.UUID) -> list[SetupSecretView]:
        await self._repository(tenant_id, repository_id)
        return [
            SetupSecretView(r.name, r.created_at, r.updated_at)
            for r in await self._rows(repository_id)
        ]

    async def delete(self, tenant_id: uuid.UUID, repository_id: uuid.UUID, name: str) -> bool:
        """Remove the secret (its ciphertext with it); False when there was none."""
        await self._repository(tenant_id, repository_id)
        done = await self._session.execute(
            delete(SetupSecretRow).where(
                SetupSecretRow.repository_id == repository_id, SetupSecretRow.name == name
            )
        )
        return bool(getattr(done, "rowcount", 0))

    async def load(self, tenant_id: uuid.UUID, repository_id: uuid.UUID) -> dict[str, str]:
        """Every secret's value (for the setup phase only). Raises CredentialUndecryptable or
        UnknownVaultKey, neither carrying a value."""
        out: dict[str, str] = {}
        for row in await self._rows(repository_id):
            if row.tenant_id != tenant_id:
                continue
            binding = SetupSecretBinding(row.tenant_id, row.repository_id, row.id)
            envelope = Envelope(row.encrypted_data, row.encryption_key_id)
            out[row.name] = open_envelope(self._keyring, binding, envelope).decode()
        return out

    async def _rows(self, repository_id: uuid.UUID) -> list[SetupSecretRow]:
        return list(
            (
                await self._session.scalars(
                    select(SetupSecretRow)
                    .where(SetupSecretRow.repository_id == repository_id)
                    .order_by(SetupSecretRow.name)
                )
            ).all()
        )

    async def _row(self, repository_id: uuid.UUID, name: str) -> SetupSecretRow | None:
        return await self._session.scalar(
            select(SetupSecretRow).where(
                SetupSecretRow.repository_id == repository_id, SetupSecretRow.name == name
            )
        )


async def forget_setup_secrets(
    session: AsyncSession, tenant_id: uuid.UUID, repository_id: uuid.UUID
) -> None:
    """Remove every setup secret of a repository (it was deleted)."""
    await session.execute(
        delete(SetupSecretRow).where(
            SetupSecretRow.tenant_id == tenant_id, SetupSecretRow.repository_id == repository_id
        )
    )

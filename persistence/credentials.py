"""Credentials of repositories: stored envelope-encrypted, decrypted only for activities.

`CredentialRepository` works inside the caller's unit of work (it never commits).
`rotate_keys` is the exception: it owns its transactions so a large rotation commits in
batches and can resume after an interruption.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import CredentialType
from domain.errors import FieldError, NotFound, ValidationFailed
from domain.values import CredentialData
from persistence.tables import CredentialRow, RepositoryRow, SetupSecretRow
from persistence.vault import (
    Binding,
    CredentialUndecryptable,
    Envelope,
    Keyring,
    open_envelope,
    rewrap,
    seal,
)

# What each credential type cannot work without.
_REQUIRED_FIELDS: dict[CredentialType, tuple[str, ...]] = {
    CredentialType.SSH_KEY: ("ssh_private_key",),
    CredentialType.TOKEN: ("token",),
    CredentialType.BASIC: ("username", "password"),
    CredentialType.OAUTH: ("oauth_token",),
}


def credential_errors(credential_type: CredentialType, data: CredentialData) -> list[FieldError]:
    """The broken rules of a credential of `credential_type` (empty when it is usable)."""
    if credential_type not in _REQUIRED_FIELDS:
        return [FieldError("type", f"credential type {credential_type!r} is not supported")]
    return [
        FieldError(name, f"a {credential_type.name.lower()} credential requires {name}")
        for name in _REQUIRED_FIELDS[credential_type]
        if getattr(data, name) is None
    ]


@dataclass(frozen=True)
class CredentialView:
    """What the API may show of a credential: never the secret, never the ciphertext."""

    id: uuid.UUID
    repository_id: uuid.UUID
    type: CredentialType
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None

    @classmethod
    def of(cls, row: CredentialRow) -> CredentialView:
        return cls(
            id=row.id,
            repository_id=row.repository_id,
            type=CredentialType(row.type),
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_validated_at=row.last_validated_at,
        )


def _binding(row: CredentialRow) -> Binding:
    return Binding(row.tenant_id, row.repository_id, row.id)


class CredentialRepository:
    """Set, replace, delete, describe and decrypt the one live credential of a repository."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self._session = session
        self._keyring = keyring

    async def _repository(self, tenant_id: uuid.UUID, repository_id: uuid.UUID) -> RepositoryRow:
        # FOR UPDATE serialises concurrent set/delete of the same repository's credential
        row = await self._session.scalar(
            select(RepositoryRow)
            .where(
                RepositoryRow.id == repository_id,
                RepositoryRow.tenant_id == tenant_id,
                RepositoryRow.deleted_at.is_(None),
            )
            .with_for_update()
        )
        if row is None:
            raise NotFound(f"repository {repository_id} not found")
        return row

    async def _live(self, tenant_id: uuid.UUID, repository_id: uuid.UUID) -> CredentialRow | None:
        return await self._session.scalar(
            select(CredentialRow).where(
                CredentialRow.tenant_id == tenant_id,
                CredentialRow.repository_id == repository_id,
                CredentialRow.deleted_at.is_(None),
            )
        )

    async def set_credential(
        self,
        tenant_id: uuid.UUID,
        repository_id: uuid.UUID,
        credential_type: CredentialType,
        data: CredentialData,
    ) -> CredentialView:
        """Create or replace the repository's credential; sets repositories.credential_id.

        Raises ValidationFailed when `data` lacks what the type needs, NotFound when the
        repository is not the tenant's.
        """
        errors = credential_errors(credential_type, data)
        if errors:
            raise ValidationFailed(errors)
        repository = await self._repository(tenant_id, repository_id)
        row = await self._live(tenant_id, repository_id)
        if row is None:
            row = CredentialRow(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                repository_id=repository_id,
            )
            self._session.add(row)
        envelope = seal(self._keyring, _binding(row), data.plaintext_json())
        row.type = int(credential_type)
        row.encrypted_data = envelope.blob
        row.encryption_key_id = envelope.key_id
        # a new secret has not been proven to work yet
        row.last_validated_at = None
        repository.credential_id = row.id
        await self._session.flush()
        await self._session.refresh(row)
        return CredentialView.of(row)

    async def delete_credential(self, tenant_id: uuid.UUID, repository_id: uuid.UUID) -> bool:
        """Soft-delete the credential and shred its ciphertext; False when there was none."""
        repository = await self._repository(tenant_id, repository_id)
        row = await self._live(tenant_id, repository_id)
        if row is None:
            return False
        now = datetime.now(UTC)
        row.deleted_at = now
        row.updated_at = now
        # the row stays for audit; the secret does not, and no master key is referenced
        row.encrypted_data = ""
        row.encryption_key_id = ""
        repository.credential_id = None
        await self._session.flush()
        return True

    async def load_credential(
        self, tenant_id: uuid.UUID, repository_id: uuid.UUID
    ) -> tuple[CredentialType, CredentialData] | None:
        """Decrypt the repository's credential (for activities only); None when it has none.

        Raises CredentialUndecryptable or UnknownVaultKey; neither carries any secret.
        """
        row = await self._live(tenant_id, repository_id)
        if row is None:
            return None
        plaintext = open_envelope(
            self._keyring, _binding(row), Envelope(row.encrypted_data, row.encryption_key_id)
        )
        try:
            data = CredentialData.model_validate_json(plaintext)
        except ValidationError:
            # pydantic would echo the input (the secret) in its message: never surface it
            raise CredentialUndecryptable(row.id) from None
        return CredentialType(row.type), data

    async def describe(
        self, tenant_id: uuid.UUID, repository_id: uuid.UUID
    ) -> CredentialView | None:
        """The API view of the repository's credential, None when it has none."""
        row = await self._live(tenant_id, repository_id)
        return CredentialView.of(row) if row is not None else None

    async def mark_validated(
        self, tenant_id: uuid.UUID, repository_id: uuid.UUID, at: datetime | None = None
    ) -> CredentialView:
        """Record that the credential just worked against the remote."""
        row = await self._live(tenant_id, repository_id)
        if row is None:
            raise NotFound(f"repository {repository_id} has no credential")
        row.last_validated_at = at or datetime.now(UTC)
        await self._session.flush()
        # updated_at is set by the database on update: load it rather than lazy-load later
        await self._session.refresh(row)
        return CredentialView.of(row)


@dataclass(frozen=True)
class RotationReport:
    """Outcome of one `rotate_keys` run."""

    primary_key_id: str
    rewrapped: int
    batches: int
    completed: bool

    @property
    def interrupted(self) -> bool:
        return not self.completed


RotationProgress = Callable[[int, int], None]
"""Called after each committed batch with (batches so far, credentials re-wrapped so far)."""


async def rotate_keys(
    session_factory: async_sessionmaker[AsyncSession],
    keyring: Keyring,
    batch_size: int = 100,
    *,
    progress: RotationProgress | None = None,
    cancel: threading.Event | None = None,
) -> RotationReport:
    """Re-wrap every live credential and setup secret not under the primary key, one
    committed batch at a time.

    Only data keys are re-wrapped; no plaintext is decrypted or written. Progress is the
    database itself (rows move to the primary key), so re-running after an interruption
    or crash finishes the job. Setting `cancel` stops after the current batch.
    Raises UnknownVaultKey when a row names a key missing from the keyring.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    primary = keyring.primary_key_id
    rewrapped = 0
    batches = 0
    for table, live in _sealed_tables():
        while True:
            if cancel is not None and cancel.is_set():
                return RotationReport(primary, rewrapped, batches, completed=False)
            async with session_factory() as session, session.begin():
                rows = (
                    await session.scalars(
                        select(table)
                        .where(live, table.encryption_key_id != primary)
                        .order_by(table.id)
                        .limit(batch_size)
                        # concurrent rotations split the work instead of waiting on each other
                        .with_for_update(skip_locked=True)
                    )
                ).all()
                if not rows:
                    break
                for row in rows:
                    sealed: CredentialRow | SetupSecretRow = row  # type: ignore[assignment]
                    envelope = rewrap(
                        keyring,
                        Envelope(sealed.encrypted_data, sealed.encryption_key_id),
                        sealed.id,
                    )
                    # a plain UPDATE of the two columns: updated_at is about the secret
                    await session.execute(
                        update(table)
                        .where(table.id == sealed.id)
                        .values(
                            encrypted_data=envelope.blob,
                            encryption_key_id=envelope.key_id,
                            updated_at=table.updated_at,
                        )
                        .execution_options(synchronize_session=False)
                    )
            batches += 1
            rewrapped += len(rows)
            if progress is not None:
                progress(batches, rewrapped)
    return RotationReport(primary, rewrapped, batches, completed=True)


def _sealed_tables() -> list[tuple[type[CredentialRow] | type[SetupSecretRow], Any]]:
    """Every table of vault-sealed secrets the rotation re-wraps, with its live-row filter
    (repository credentials, setup-only secrets)."""
    return [(CredentialRow, CredentialRow.deleted_at.is_(None)), (SetupSecretRow, true())]


async def count_under_key(session_factory: async_sessionmaker[AsyncSession], key_id: str) -> int:
    """How many live credentials and setup secrets are still wrapped by `key_id` (0 means
    it can be retired)."""
    total = 0
    async with session_factory() as session:
        for table, live in _sealed_tables():
            count = await session.scalar(
                select(func.count())
                .select_from(table)
                .where(live, table.encryption_key_id == key_id)
            )
            total += int(count or 0)
    return total

"""Repositories and their write-only credential, as the API accepts and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from activities.git.remote_url import redact_url
from api.schemas.text import refuse_nul
from domain.enums import CredentialType, GitProvider, State
from domain.values import CredentialData
from persistence.credentials import CredentialView
from persistence.tables import RepositoryRow

ProviderName = Literal[
    "unspecified", "github", "gitlab", "bitbucket", "azure_devops", "gitea", "generic"
]
StateName = Literal["active", "inactive"]
CredentialTypeName = Literal["ssh_key", "token", "oauth", "basic"]


def provider_of(name: str) -> GitProvider:
    return GitProvider[name.upper()]


def state_of(name: str) -> State:
    return State[name.upper()]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)


class RepositoryCreate(_Request):
    """Register a git repository. `name` and `url` follow the seed's rules."""

    name: str | None = Field(default=None, description="Unique per tenant, 1-255 characters")
    url: str | None = Field(default=None, description="Any URL git accepts (https, ssh, scp-like)")
    default_branch: str = Field(default="main", min_length=1, max_length=255)
    provider: ProviderName = "unspecified"
    properties: dict[str, Any] = Field(default_factory=dict)


class RepositoryUpdate(_Request):
    """Change some fields of a repository; tenant, id and url are not updatable."""

    name: str | None = None
    default_branch: str | None = Field(default=None, min_length=1, max_length=255)
    provider: ProviderName | None = None
    state: StateName | None = None
    properties: dict[str, Any] | None = None


class CredentialInfo(BaseModel):
    """What is known about a repository's credential: never the secret."""

    id: uuid.UUID
    type: CredentialTypeName
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None

    @classmethod
    def of(cls, view: CredentialView) -> CredentialInfo:
        return cls(
            id=view.id,
            type=view.type.name.lower(),
            created_at=view.created_at,
            updated_at=view.updated_at,
            last_validated_at=view.last_validated_at,
        )


class RepositoryOut(BaseModel):
    """A registered repository. The URL is shown with any embedded password redacted."""

    id: uuid.UUID
    name: str
    url: str
    default_branch: str
    provider: ProviderName
    state: Literal["active", "inactive", "deleted", "unspecified"]
    properties: dict[str, Any]
    credential: CredentialInfo | None
    last_accessed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: RepositoryRow, credential: CredentialView | None) -> RepositoryOut:
        return cls(
            id=row.id,
            name=row.name,
            url=redact_url(row.url),
            default_branch=row.default_branch,
            provider=GitProvider(row.provider).name.lower(),
            state=State(row.state).name.lower(),
            properties=row.properties or {},
            credential=CredentialInfo.of(credential) if credential else None,
            last_accessed_at=row.last_accessed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class CredentialPut(_Request):
    """A credential of a type and the secret fields that type needs (write-only)."""

    type: CredentialTypeName
    ssh_private_key: SecretStr | None = None
    ssh_passphrase: SecretStr | None = None
    token: SecretStr | None = None
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = None
    oauth_token: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None

    def credential_type(self) -> CredentialType:
        return CredentialType[self.type.upper()]

    def data(self) -> CredentialData:
        return CredentialData(**self.model_dump(exclude={"type"}))


class CredentialValidation(BaseModel):
    """The credential reached the remote: how many refs it lists."""

    ok: bool
    ref_count: int
    validated_at: datetime

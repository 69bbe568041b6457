"""Repositories and their write-only credential, as the API accepts and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, WithJsonSchema

from api.schemas.base import RequestModel, seed_rules
from api.schemas.fields import BranchName, RemoteUrl, RepositoryProperties
from domain.enums import CredentialType, GitProvider, State
from domain.remote_urls import redact_url
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


class RepositoryCreate(RequestModel):
    """Register a git repository. `name` and `url` follow the seed's rules."""

    model_config = ConfigDict(
        json_schema_extra=seed_rules(
            "name",
            "url",
            examples=[
                {
                    "name": "storefront",
                    "url": "https://git.example.com/acme/storefront.git",
                    "default_branch": "main",
                    "provider": "gitea",
                    "properties": {"test_command": "make test"},
                }
            ],
        )
    )

    name: Annotated[
        str | None, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255})
    ] = Field(default=None, description="Unique per tenant")
    url: RemoteUrl = None
    default_branch: BranchName = "main"
    provider: ProviderName = "unspecified"
    properties: RepositoryProperties = Field(default_factory=dict)


class RepositoryUpdate(RequestModel):
    """Change some fields of a repository; tenant, id and url are not updatable. An absent
    or null field is left as it is."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"default_branch": "develop", "state": "inactive"}]}
    )

    name: Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": 255})] | None = None
    default_branch: BranchName | None = None
    provider: ProviderName | None = None
    state: StateName | None = None
    properties: RepositoryProperties | None = None


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


Secret = Annotated[SecretStr, Field(min_length=1, max_length=16384)]


class _CredentialBody(RequestModel):
    type: CredentialTypeName

    def credential_type(self) -> CredentialType:
        return CredentialType[self.type.upper()]

    def data(self) -> CredentialData:
        return CredentialData(**self.model_dump(exclude={"type"}))


class TokenCredential(_CredentialBody):
    """An access token (sent as the HTTP password; `username` defaults per forge)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "token", "token": "<personal access token>"}]}
    )
    type: Literal["token"]
    token: Secret
    username: str | None = Field(default=None, min_length=1, max_length=255)


class OAuthCredential(_CredentialBody):
    """An OAuth access token and, optionally, its refresh token."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"type": "oauth", "oauth_token": "<access token>"}]}
    )
    type: Literal["oauth"]
    oauth_token: Secret
    oauth_refresh_token: Secret | None = None


class BasicCredential(_CredentialBody):
    """A user name and password (HTTP basic auth)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "basic", "username": "builder-bot", "password": "<password>"}]
        }
    )
    type: Literal["basic"]
    username: str = Field(min_length=1, max_length=255)
    password: Secret


class SshKeyCredential(_CredentialBody):
    """An SSH private key (OpenSSH or PEM) and its passphrase, if it has one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "ssh_key", "ssh_private_key": "<private key file content>"}]
        }
    )
    type: Literal["ssh_key"]
    ssh_private_key: Secret
    ssh_passphrase: Secret | None = None


CredentialPut = Annotated[
    TokenCredential | OAuthCredential | BasicCredential | SshKeyCredential,
    Field(discriminator="type"),
]
"""A credential of a type and the secret fields that type needs (write-only)."""


class CredentialValidation(BaseModel):
    """The verdict on the stored credential: whether the remote listed its refs with it
    (and how many), or why not."""

    ok: bool
    ref_count: int
    validated_at: datetime = Field(description="When the check ran")
    reason: str | None = Field(
        default=None, description="Why the remote could not be listed (never the secret)"
    )

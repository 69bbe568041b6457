"""Repositories and their write-only credential, as the API accepts and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

from activities.analysis.repo_config import RepositoryProperties as _ResolvedProperties
from api.schemas.base import RequestModel, seed_rules
from api.schemas.fields import BranchName, RemoteUrl
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


# what domain.pull_requests accepts: no control characters, no commas in labels (GitLab
# takes them comma-separated), bounded lengths
_Label = Annotated[str, Field(max_length=100, pattern=r"^[^,\x00-\x1f]*$")]
_Person = Annotated[str, Field(max_length=255, pattern=r"^[^\x00-\x1f]*$")]


class PullRequestDefaults(BaseModel):
    """The pull request an execution opens after its push (docs/forges/)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["none", "draft", "ready"] = "none"
    labels: list[_Label] = Field(default_factory=list, max_length=20)
    reviewers: list[_Person] = Field(default_factory=list, max_length=20)
    assignees: list[_Person] = Field(default_factory=list, max_length=20)


# a mode or {mode, labels, reviewers, assignees} (the repository default and an
# execution's override alike); domain.pull_requests checks the rest with its messages
PULL_REQUEST_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "enum": ["none", "draft", "ready"]},
        PullRequestDefaults.model_json_schema(),
        {"type": "null"},
    ]
}


class RepositoryProperties(_ResolvedProperties):
    """How builder sets up, builds, tests and delivers the repository; every key is optional.

    Precedence: these properties > the repository's `.builder.yml` > detection. A
    `*_command` set to null (or false) switches that phase off; a key that is absent falls
    back to the file, then to detection (PATCH `remove_properties` makes a key absent again).
    Environment variable names that look like secrets or builder settings are refused:
    secrets belong in the credential vault, never in properties.
    """

    # checked by domain.pull_requests at the router (its messages name each broken rule);
    # the schema documents the shape
    pull_request: Annotated[Any, WithJsonSchema(PULL_REQUEST_SCHEMA)] = Field(
        default=None,
        description="open a pull request after the push: a mode, or {mode, labels, "
        "reviewers, assignees}; an execution's own properties.pull_request overrides it",
    )
    forge: str | None = Field(
        default=None,
        max_length=40,
        description="the forge's API dialect when the URL does not tell: github, gitlab, gitea, "
        "bitbucket_cloud, bitbucket_datacenter or azure_devops",
    )
    forge_api_url: str | None = Field(
        default=None, max_length=2000, description="the forge's API root, when not derived"
    )
    forge_project: str | None = Field(
        default=None, max_length=500, description="the project path, when not derived"
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise ValueError(
                    f"unknown repository propert{'y' if len(unknown) == 1 else 'ies'} "
                    f"{', '.join(map(repr, unknown))}; known: {', '.join(cls.model_fields)}"
                )
        return data

    @model_serializer(mode="wrap")
    def _only_set_keys(self, handler: SerializerFunctionWrapHandler):
        # an absent key (detection decides) must never read as null (switched off); no
        # return annotation, so the output schema stays the model's own
        data = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}

    def stored(self) -> dict[str, Any]:
        """The keys that were given, as they are kept on the repository row."""
        return self.model_dump(mode="json")

    @classmethod
    def shown(cls, stored: dict[str, Any] | None) -> RepositoryProperties:
        """Stored properties as the API shows them: only the keys that are set (null stays
        null: that phase is off). Keys from before properties were typed are not shown."""
        known = {k: v for k, v in (stored or {}).items() if k in cls.model_fields}
        return cls.model_construct(_fields_set=set(known), **known)


PropertyName = Literal[
    "setup_command", "build_command", "test_command", "setup_allow_network",
    "build_allow_network", "test_allow_network", "sandbox_allow_network", "setup_timeout_s",
    "build_timeout_s", "test_timeout_s", "env", "toolchain", "ignore_paths", "pull_request",
    "forge", "forge_api_url", "forge_project",
]  # fmt: skip


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
                    "properties": {"test_command": "make test", "pull_request": "draft"},
                }
            ],
        )
    )

    name: Annotated[
        str | None, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255})
    ] = Field(default=None, description="Unique per tenant")
    url: RemoteUrl = None
    default_branch: BranchName | None = Field(
        default=None,
        description="the branch features start from; omitted: the branch the remote's HEAD "
        "points to when it can be read anonymously, else main",
    )
    provider: ProviderName = "unspecified"
    properties: RepositoryProperties = Field(default_factory=RepositoryProperties)


class RepositoryUpdate(RequestModel):
    """Change some fields of a repository; tenant, id and url are not updatable.

    `properties` merges into the stored ones key by key (a key set to null switches that
    phase off); `remove_properties` deletes keys, so they fall back to `.builder.yml` and
    detection. A key may not be both set and removed.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"default_branch": "develop", "properties": {"test_command": None}},
                {"remove_properties": ["test_command"]},
            ]
        }
    )

    name: Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": 255})] | None = None
    default_branch: BranchName | None = None
    provider: ProviderName | None = None
    state: StateName | None = None
    properties: RepositoryProperties | None = None
    remove_properties: list[PropertyName] | None = Field(
        default=None, description="property keys to delete (back to the file or detection)"
    )

    @model_validator(mode="after")
    def _set_or_removed(self) -> RepositoryUpdate:
        both = set(self.remove_properties or []) & set(
            self.properties.model_fields_set if self.properties else ()
        )
        if both:
            raise ValueError(f"properties {sorted(both)} are both set and removed")
        return self

    def merged_properties(self, stored: dict[str, Any] | None) -> dict[str, Any] | None:
        """The properties after this update, or None when it changes none."""
        if self.properties is None and not self.remove_properties:
            return None
        merged = dict(stored or {})
        if self.properties is not None:
            merged.update(self.properties.stored())
        for key in self.remove_properties or []:
            merged.pop(key, None)
        return merged


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
    properties: RepositoryProperties = Field(description="only the keys that are set")
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
            properties=RepositoryProperties.shown(row.properties),
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


class SetupSecretPut(RequestModel):
    """A setup-only secret's value: setup receives it as the environment variable named in
    the path; build, test, logs, events and artifacts never see it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"value": "<private index token>"}]})
    value: Annotated[SecretStr, Field(min_length=1, max_length=8192)]


class SetupSecretOut(BaseModel):
    """A setup secret as the API shows it: its name, never its value."""

    name: str
    created_at: datetime
    updated_at: datetime


class SetupSecretList(BaseModel):
    items: list[SetupSecretOut]

"""One case per forge: its fake server, how a repository of it is registered, the
credential it authenticates with, and what its pull requests support."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from activities.forges import ForgeHttpConfig, ForgeKind, open_forge
from activities.forges.base import ForgeClient
from activities.git.config import GitConfig
from activities.git.credentials import GitCredential
from domain.enums import CredentialType, GitProvider
from domain.values import CredentialData
from tests.fixtures.forges.azure_devops import FakeAzureDevOps
from tests.fixtures.forges.base import FakeForge
from tests.fixtures.forges.bitbucket_cloud import FakeBitbucketCloud
from tests.fixtures.forges.bitbucket_datacenter import FakeBitbucketDataCenter
from tests.fixtures.forges.gitea import FakeGitea
from tests.fixtures.forges.github import FakeGitHub
from tests.fixtures.forges.gitlab import FakeGitLab

TOKEN = "forge-token-s3cret-0123456789"
AZURE_ALICE = "6f1b8d6e-1111-4a6b-9c1e-000000000101"


@dataclass(frozen=True)
class ForgeCase:
    """How to reach one provider's fake as a registered repository would."""

    kind: ForgeKind
    make: Callable[[], FakeForge]
    url: str
    provider: GitProvider
    properties: Callable[[FakeForge], dict[str, Any]]
    credential: Callable[[str], GitCredential]
    labels: bool = True
    assignees: bool = True
    resolves: bool = True
    reviewer: str = "alice"

    def __str__(self) -> str:
        return self.kind.value


def token_credential(token: str) -> GitCredential:
    return GitCredential(CredentialType.TOKEN, CredentialData(token=SecretStr(token)))


def basic_credential(token: str) -> GitCredential:
    return GitCredential(
        CredentialType.BASIC, CredentialData(username="builder-bot", password=SecretStr(token))
    )


CASES = [
    ForgeCase(
        ForgeKind.GITHUB,
        lambda: FakeGitHub(TOKEN, project="acme/app"),
        "https://ghe.example.com/acme/app.git",
        GitProvider.GITHUB,
        lambda fake: {"forge_api_url": fake.api_url},
        token_credential,
    ),
    ForgeCase(
        ForgeKind.GITLAB,
        lambda: FakeGitLab(TOKEN, project="acme/platform/app"),
        "git@gitlab.example.com:acme/platform/app.git",
        GitProvider.GITLAB,
        lambda fake: {"forge_api_url": fake.api_url},
        token_credential,
    ),
    ForgeCase(
        ForgeKind.GITEA,
        lambda: FakeGitea(TOKEN, project="acme/app"),
        "https://code.example.com/acme/app.git",
        GitProvider.UNSPECIFIED,
        lambda fake: {"forge": "forgejo", "forge_api_url": fake.api_url},
        token_credential,
        resolves=False,
    ),
    ForgeCase(
        ForgeKind.BITBUCKET_CLOUD,
        lambda: FakeBitbucketCloud(TOKEN, project="acme/app", username="builder-bot"),
        "https://bitbucket.org/acme/app.git",
        GitProvider.BITBUCKET,
        lambda fake: {"forge_api_url": fake.api_url},
        basic_credential,
        labels=False,
        assignees=False,
        reviewer="557058:alice-account-id",
    ),
    ForgeCase(
        ForgeKind.BITBUCKET_DATACENTER,
        lambda: FakeBitbucketDataCenter(TOKEN, project="ACME/app"),
        "ssh://git@bitbucket.example.com:7999/acme/app.git",
        GitProvider.BITBUCKET,
        lambda fake: {"forge_api_url": fake.api_url, "forge_project": "ACME/app"},
        token_credential,
        labels=False,
        assignees=False,
    ),
    ForgeCase(
        ForgeKind.AZURE_DEVOPS,
        lambda: FakeAzureDevOps(TOKEN, project="acme/platform/app"),
        "https://dev.azure.com/acme/platform/_git/app",
        GitProvider.AZURE_DEVOPS,
        lambda fake: {"forge_api_url": fake.api_url},
        token_credential,
        assignees=False,
        reviewer=AZURE_ALICE,
    ),
]


@pytest.fixture(params=CASES, ids=str)
def case(request: pytest.FixtureRequest) -> ForgeCase:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def fake(case: ForgeCase) -> Iterator[FakeForge]:
    with case.make() as server:
        yield server


@pytest.fixture
def local_git_config(tmp_path: Path) -> GitConfig:
    """The worker's policy in dev and tests: the forge runs on this machine."""
    return GitConfig(
        workspace_root=tmp_path / "w",
        mirror_root=tmp_path / "m",
        denied_hosts=(),
        allow_plain_http=True,
    )


OpenForge = Callable[..., Any]


@pytest.fixture
async def connect(
    case: ForgeCase, fake: FakeForge, local_git_config: GitConfig
) -> AsyncIterator[OpenForge]:
    """Opens the case's forge client the way delivery will: URL, provider, properties."""
    opened: list[ForgeClient] = []

    async def open_(token: str = TOKEN, **extra: Any) -> ForgeClient:
        forge = await open_forge(
            case.url,
            case.provider,
            {**case.properties(fake), **extra},
            case.credential(token),
            local_git_config,
            # two items a page, so every list is paged through
            config=ForgeHttpConfig(page_size=2),
        )
        opened.append(forge)
        return forge

    yield open_
    for forge in opened:
        await forge.aclose()

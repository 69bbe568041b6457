"""Opens the forge client of a repository: location from its URL and properties, the API
host checked against the same denied-hosts policy as git remotes, auth from its credential."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from activities.forges.auth import auth_headers
from activities.forges.azure_devops import AzureDevOpsForge
from activities.forges.bitbucket_cloud import BitbucketCloudForge
from activities.forges.bitbucket_datacenter import BitbucketDataCenterForge
from activities.forges.gitea import GiteaForge
from activities.forges.github import GitHubForge
from activities.forges.gitlab import GitLabForge
from activities.forges.http import ForgeHttp, ForgeHttpConfig
from activities.forges.location import ForgeLocation, resolve_location
from activities.forges.model import Forge, ForgeKind
from activities.git.config import GitConfig
from activities.git.remote_url import check_remote_url
from domain.enums import GitProvider

if TYPE_CHECKING:
    # pygit2 stays out of processes that only validate forge settings (the API)
    from activities.git.credentials import GitCredential

CLIENTS: dict[ForgeKind, Callable[[ForgeHttp, ForgeLocation], Forge]] = {
    ForgeKind.GITHUB: GitHubForge,
    ForgeKind.GITLAB: GitLabForge,
    ForgeKind.GITEA: GiteaForge,
    ForgeKind.BITBUCKET_CLOUD: BitbucketCloudForge,
    ForgeKind.BITBUCKET_DATACENTER: BitbucketDataCenterForge,
    ForgeKind.AZURE_DEVOPS: AzureDevOpsForge,
}


def forge_for_location(
    location: ForgeLocation,
    credential: GitCredential | None,
    *,
    config: ForgeHttpConfig | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Forge:
    """The client of `location`, authenticated with `credential` (no policy check)."""
    http = ForgeHttp(
        location.kind,
        location.api_root,
        auth_headers(location.kind, credential),
        secrets=credential.secrets() if credential else (),
        config=config,
        transport=transport,
    )
    return CLIENTS[location.kind](http, location)


async def open_forge(
    url: str,
    provider: GitProvider | int,
    properties: Mapping[str, Any] | None,
    credential: GitCredential | None,
    git_config: GitConfig,
    *,
    config: ForgeHttpConfig | None = None,
) -> Forge:
    """The forge client of a repository. PolicyViolation (ForgeNotConfigured) when the
    provider cannot be told or the API host is refused; ForgeAuthFailed when the
    credential cannot call an API."""
    location = resolve_location(url, provider, properties)
    # the API host is a tenant's choice like the remote: same transports, same denied hosts
    await asyncio.to_thread(check_remote_url, location.api_root, git_config)
    return forge_for_location(location, credential, config=config)

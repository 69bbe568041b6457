"""Provider specifics the shared contract does not show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from activities.forges import (
    ForgeHttpConfig,
    ForgeNotFound,
    ForgeRateLimited,
    open_forge,
)
from activities.forges.base import ForgeClient
from activities.forges.model import PullRequestDraft
from activities.git.config import GitConfig, default_denied_hosts
from domain.enums import GitProvider
from domain.errors import PolicyViolation
from tests.fixtures.forges.azure_devops import FakeAzureDevOps
from tests.fixtures.forges.bitbucket_datacenter import FakeBitbucketDataCenter
from tests.fixtures.forges.github import FakeGitHub
from tests.fixtures.forges.gitlab import FakeGitLab
from tests.integration.forges.conftest import TOKEN, token_credential

DRAFT = PullRequestDraft(title="t", body="b", head="builder/x", base="main")


@pytest.fixture
def config(tmp_path: Path) -> GitConfig:
    return GitConfig(
        workspace_root=tmp_path, mirror_root=tmp_path, denied_hosts=(), allow_plain_http=True
    )


@pytest.fixture
async def github(config: GitConfig) -> AsyncIterator[tuple[FakeGitHub, ForgeClient]]:
    with FakeGitHub(TOKEN, project="acme/app") as fake:
        forge = await open_forge(
            "git@ghe.example.com:acme/app.git",
            GitProvider.GITHUB,
            {"forge_api_url": fake.api_url},
            token_credential(TOKEN),
            config,
        )
        yield fake, forge
        await forge.aclose()


async def test_github_primary_rate_limit_waits_until_the_reset_time(
    github: tuple[FakeGitHub, ForgeClient],
) -> None:
    fake, forge = github
    fake.primary_rate_limit_next(reset_in=120)

    with pytest.raises(ForgeRateLimited) as caught:
        await forge.create_pull_request(DRAFT)

    assert 115 <= (caught.value.retry_after_seconds or 0) <= 121


async def test_github_enterprise_graphql_lives_beside_the_rest_root(
    github: tuple[FakeGitHub, ForgeClient],
) -> None:
    fake, forge = github
    pr, _ = await forge.create_pull_request(DRAFT)

    assert await forge.unresolved_review_threads(pr) == []
    assert fake.calls("POST", "/api/graphql")


async def test_wrong_project_is_a_not_found_that_points_at_the_properties(
    config: GitConfig,
) -> None:
    with FakeGitHub(TOKEN, project="acme/app") as fake:
        forge = await open_forge(
            "https://ghe.example.com/acme/other.git",
            GitProvider.GITHUB,
            {"forge_api_url": fake.api_url},
            token_credential(TOKEN),
            config,
        )
        with pytest.raises(ForgeNotFound) as caught:
            await forge.find_open_pull_request("builder/x")
        await forge.aclose()
    assert "forge_api_url" in caught.value.message and "404" in caught.value.message


async def test_gitlab_addresses_the_project_by_its_url_encoded_path(config: GitConfig) -> None:
    with FakeGitLab(TOKEN, project="acme/platform/app") as fake:
        forge = await open_forge(
            "https://gitlab.example.com/acme/platform/app.git",
            GitProvider.GITLAB,
            {"forge_api_url": fake.api_url},
            token_credential(TOKEN),
            config,
        )
        await forge.create_pull_request(DRAFT)
        await forge.aclose()
    assert all("/projects/acme%2Fplatform%2Fapp/" in r.raw_path + "/" for r in fake.requests)


async def test_azure_sends_the_api_version_on_every_call(config: GitConfig) -> None:
    with FakeAzureDevOps(TOKEN, project="acme/platform/app") as fake:
        forge = await open_forge(
            "https://dev.azure.com/acme/platform/_git/app",
            GitProvider.AZURE_DEVOPS,
            {"forge_api_url": fake.api_url},
            token_credential(TOKEN),
            config,
        )
        pr, _ = await forge.create_pull_request(DRAFT)
        await forge.update_pull_request(pr, body="new")
        await forge.comment(pr, "hi")
        await forge.unresolved_review_threads(pr)
        await forge.aclose()
    assert fake.requests and all(r.param("api-version") == "7.1" for r in fake.requests)


async def test_bitbucket_data_center_retries_an_update_once_on_a_stale_version(
    config: GitConfig,
) -> None:
    with FakeBitbucketDataCenter(TOKEN, project="ACME/app") as fake:
        forge = await open_forge(
            "https://bitbucket.example.com/scm/ACME/app.git",
            GitProvider.BITBUCKET,
            {"forge_api_url": fake.api_url},
            token_credential(TOKEN),
            config,
        )
        pr, _ = await forge.create_pull_request(DRAFT)
        fake.pulls[pr.number].version = 5  # someone edited it meanwhile

        updated = await forge.update_pull_request(pr, title="New title")
        await forge.aclose()

    assert updated.title == "New title" and fake.pulls[pr.number].version == 6
    assert len(fake.calls("PUT", f"/pull-requests/{pr.number}")) == 2


async def test_a_refused_api_host_is_a_policy_violation_before_any_request(
    tmp_path: Path,
) -> None:
    production = GitConfig(
        workspace_root=tmp_path, mirror_root=tmp_path, denied_hosts=default_denied_hosts()
    )
    with FakeGitHub(TOKEN) as fake, pytest.raises(PolicyViolation):
        await open_forge(
            "https://ghe.example.com/acme/app.git",
            GitProvider.GITHUB,
            {"forge_api_url": fake.api_url},
            token_credential(TOKEN),
            production,
        )
    assert fake.requests == []


async def test_a_response_larger_than_the_limit_is_not_read(config: GitConfig) -> None:
    with FakeGitHub(TOKEN, project="acme/app") as fake:
        forge = await open_forge(
            "https://ghe.example.com/acme/app.git",
            GitProvider.GITHUB,
            {"forge_api_url": fake.api_url},
            token_credential(TOKEN),
            config,
            config=ForgeHttpConfig(max_response_bytes=1024),
        )
        fake.fail_next(200, [{"padding": "x" * 4096}])
        with pytest.raises(Exception, match="more than 1024 bytes"):
            await forge.find_open_pull_request("builder/x")
        await forge.aclose()

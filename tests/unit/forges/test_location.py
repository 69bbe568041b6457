"""Where each forge's API is, derived from the repository URL the way people register it."""

from __future__ import annotations

import pytest

from activities.forges import ForgeKind, ForgeNotConfigured, resolve_location
from domain.enums import GitProvider


@pytest.mark.parametrize(
    ("url", "provider", "kind", "api", "project"),
    [
        (
            "https://github.com/acme/app.git",
            0,
            ForgeKind.GITHUB,
            "https://api.github.com",
            "acme/app",
        ),
        ("git@github.com:acme/app.git", 0, ForgeKind.GITHUB, "https://api.github.com", "acme/app"),
        (
            "https://ghe.corp.example/acme/app",
            GitProvider.GITHUB,
            ForgeKind.GITHUB,
            "https://ghe.corp.example/api/v3",
            "acme/app",
        ),
        (
            "https://gitlab.com/acme/platform/app.git",
            0,
            ForgeKind.GITLAB,
            "https://gitlab.com/api/v4",
            "acme/platform/app",
        ),
        (
            "ssh://git@gitlab.corp.example:2222/acme/app.git",
            GitProvider.GITLAB,
            ForgeKind.GITLAB,
            "https://gitlab.corp.example/api/v4",
            "acme/app",
        ),
        (
            "https://codeberg.org/acme/app.git",
            0,
            ForgeKind.GITEA,
            "https://codeberg.org/api/v1",
            "acme/app",
        ),
        (
            "https://git.corp.example:3000/acme/app.git",
            GitProvider.GITEA,
            ForgeKind.GITEA,
            "https://git.corp.example:3000/api/v1",
            "acme/app",
        ),
        (
            "https://bitbucket.org/acme/app.git",
            0,
            ForgeKind.BITBUCKET_CLOUD,
            "https://api.bitbucket.org/2.0",
            "acme/app",
        ),
        (
            "git@bitbucket.org:acme/app.git",
            GitProvider.BITBUCKET,
            ForgeKind.BITBUCKET_CLOUD,
            "https://api.bitbucket.org/2.0",
            "acme/app",
        ),
        (
            "https://bitbucket.corp.example/scm/ACME/app.git",
            0,
            ForgeKind.BITBUCKET_DATACENTER,
            "https://bitbucket.corp.example/rest/api/1.0",
            "ACME/app",
        ),
        (
            "https://corp.example/bitbucket/scm/ACME/app.git",
            GitProvider.BITBUCKET,
            ForgeKind.BITBUCKET_DATACENTER,
            "https://corp.example/bitbucket/rest/api/1.0",
            "ACME/app",
        ),
        (
            "ssh://git@bitbucket.corp.example:7999/acme/app.git",
            GitProvider.BITBUCKET,
            ForgeKind.BITBUCKET_DATACENTER,
            "https://bitbucket.corp.example/rest/api/1.0",
            "acme/app",
        ),
        (
            "https://dev.azure.com/acme/platform/_git/app",
            0,
            ForgeKind.AZURE_DEVOPS,
            "https://dev.azure.com",
            "acme/platform/app",
        ),
        (
            "https://acme@dev.azure.com/acme/platform/_git/app",
            0,
            ForgeKind.AZURE_DEVOPS,
            "https://dev.azure.com",
            "acme/platform/app",
        ),
        (
            "https://dev.azure.com/acme/_git/app",
            0,
            ForgeKind.AZURE_DEVOPS,
            "https://dev.azure.com",
            "acme/app/app",
        ),
        (
            "git@ssh.dev.azure.com:v3/acme/platform/app",
            0,
            ForgeKind.AZURE_DEVOPS,
            "https://dev.azure.com",
            "acme/platform/app",
        ),
        (
            "https://acme.visualstudio.com/platform/_git/app",
            0,
            ForgeKind.AZURE_DEVOPS,
            "https://acme.visualstudio.com",
            "platform/app",
        ),
        (
            "https://tfs.corp.example/DefaultCollection/platform/_git/app",
            0,
            ForgeKind.AZURE_DEVOPS,
            "https://tfs.corp.example",
            "DefaultCollection/platform/app",
        ),
    ],
)
def test_api_root_and_project_come_from_the_repository_url(
    url: str, provider: int, kind: ForgeKind, api: str, project: str
) -> None:
    location = resolve_location(url, provider, {})
    assert (location.kind, location.api_root, location.project) == (kind, api, project)


def test_forge_property_forces_a_provider_the_host_does_not_tell() -> None:
    location = resolve_location("https://code.corp.example/acme/app.git", 0, {"forge": "forgejo"})
    assert location.kind == ForgeKind.GITEA
    assert location.kind.provider == GitProvider.GITEA
    assert location.api_root == "https://code.corp.example/api/v1"


def test_api_url_and_project_properties_override_what_the_url_says() -> None:
    location = resolve_location(
        "https://mirror.corp.example/team/app.git",
        GitProvider.GITLAB,
        {"forge_api_url": "https://gitlab.corp.example/gitlab/api/v4/", "forge_project": "g/s/p"},
    )
    assert location.api_root == "https://gitlab.corp.example/gitlab/api/v4"
    assert location.project == "g/s/p"


def test_bitbucket_on_another_host_is_data_center_and_both_map_to_the_bitbucket_provider() -> None:
    location = resolve_location("https://git.corp.example/scm/K/r.git", 0, {"forge": "bitbucket"})
    assert location.kind == ForgeKind.BITBUCKET_DATACENTER
    assert location.kind.provider == ForgeKind.BITBUCKET_CLOUD.provider == GitProvider.BITBUCKET


@pytest.mark.parametrize(
    ("url", "provider", "properties", "message"),
    [
        ("https://git.corp.example/acme/app.git", 0, {}, "cannot tell which forge"),
        ("https://git.corp.example/acme/app.git", 0, {"forge": "sourceforge"}, "unknown forge"),
        ("/srv/git/app.git", GitProvider.GITHUB, {}, "only https and ssh"),
        ("https://github.com/acme", 0, {}, "owner/repo"),
        ("https://github.com/acme/app.git", 0, {"forge_api_url": "ftp://x/api"}, "http(s) URL"),
        (
            "https://github.com/acme/app.git",
            0,
            {"forge_api_url": "https://u:p@x/api"},
            "must not embed credentials",
        ),
        ("https://github.com/acme/app.git", 0, {"forge": ""}, "non-empty string"),
        (
            "https://dev.azure.com/acme/platform/_git/app",
            0,
            {"forge_project": "a/b/c/d"},
            "org/project/repo",
        ),
    ],
)
def test_a_location_that_cannot_work_is_refused_saying_what_to_set(
    url: str, provider: int, properties: dict[str, str], message: str
) -> None:
    with pytest.raises(ForgeNotConfigured) as caught:
        resolve_location(url, provider, properties)
    assert message in caught.value.message
    assert "u:p" not in caught.value.message

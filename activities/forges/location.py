"""Where a repository's pull request API lives, derived from its git URL.

| forge | API root | project path |
|---|---|---|
| GitHub | `https://api.github.com`; Enterprise `https://<host>/api/v3` | `owner/repo` |
| GitLab | `https://<host>/api/v4` | `group/subgroup/project` (sent url-encoded) |
| Gitea / Forgejo | `https://<host>/api/v1` | `owner/repo` |
| Bitbucket Cloud | `https://api.bitbucket.org/2.0` | `workspace/repo` |
| Bitbucket Data Center | `https://<host>[/<context>]/rest/api/1.0` | `PROJECTKEY/repo` |
| Azure DevOps | `https://dev.azure.com` (Server: `https://<host>`) | `org/project/repo` |

Repository properties override what the URL cannot tell: `forge` (github, gitlab, gitea,
forgejo, bitbucket, bitbucket_cloud, bitbucket_datacenter, azure_devops, ...),
`forge_api_url` (the API root) and `forge_project` (the project path).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from activities.forges.errors import ForgeNotConfigured
from activities.forges.model import ForgeKind
from domain.enums import GitProvider

FORGE_PROPERTY = "forge"
API_URL_PROPERTY = "forge_api_url"
PROJECT_PROPERTY = "forge_project"

_ALIASES = {
    "github": ForgeKind.GITHUB,
    "github_enterprise": ForgeKind.GITHUB,
    "ghe": ForgeKind.GITHUB,
    "gitlab": ForgeKind.GITLAB,
    "gitea": ForgeKind.GITEA,
    "forgejo": ForgeKind.GITEA,
    "codeberg": ForgeKind.GITEA,
    "bitbucket_cloud": ForgeKind.BITBUCKET_CLOUD,
    "bitbucket_datacenter": ForgeKind.BITBUCKET_DATACENTER,
    "bitbucket_data_center": ForgeKind.BITBUCKET_DATACENTER,
    "bitbucket_server": ForgeKind.BITBUCKET_DATACENTER,
    "azure_devops": ForgeKind.AZURE_DEVOPS,
    "azure_devops_server": ForgeKind.AZURE_DEVOPS,
    "azure": ForgeKind.AZURE_DEVOPS,
}
_KNOWN_HOSTS = {
    "github.com": ForgeKind.GITHUB,
    "gitlab.com": ForgeKind.GITLAB,
    "bitbucket.org": ForgeKind.BITBUCKET_CLOUD,
    "dev.azure.com": ForgeKind.AZURE_DEVOPS,
    "ssh.dev.azure.com": ForgeKind.AZURE_DEVOPS,
    "codeberg.org": ForgeKind.GITEA,
    "gitea.com": ForgeKind.GITEA,
}
_BY_PROVIDER = {
    GitProvider.GITHUB: ForgeKind.GITHUB,
    GitProvider.GITLAB: ForgeKind.GITLAB,
    GitProvider.GITEA: ForgeKind.GITEA,
    GitProvider.AZURE_DEVOPS: ForgeKind.AZURE_DEVOPS,
}
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:\[\]]+|\[[^\]]+\]):(?P<path>.*)$")


@dataclass(frozen=True)
class ForgeLocation:
    """The provider, its API root and the repository's project path there."""

    kind: ForgeKind
    api_root: str
    project: str
    web_root: str

    @property
    def segments(self) -> list[str]:
        return self.project.split("/")


@dataclass(frozen=True)
class _Remote:
    scheme: str  # the scheme to reach the web/API host with: https, or http for dev remotes
    host: str  # host[:port] of the web server
    path: str  # without leading slash and trailing .git


def _parse_remote(url: str) -> _Remote:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname:
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return _Remote(parts.scheme, netloc, _clean_path(parts.path))
    if parts.scheme == "ssh" and parts.hostname:
        # the SSH port says nothing about the web port: assume the default https one
        return _Remote("https", parts.hostname, _clean_path(parts.path))
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        return _Remote("https", scp.group("host").strip("[]"), _clean_path(scp.group("path")))
    raise ForgeNotConfigured(
        f"cannot derive a forge API from the repository URL {_shown(url)!r}: only https and "
        "ssh URLs are understood; set the repository properties forge, forge_api_url and "
        "forge_project"
    )


def _clean_path(path: str) -> str:
    path = path.strip("/")
    return path[:-4] if path.endswith(".git") else path


def _shown(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is not None or (parts.scheme.startswith("http") and parts.username):
        return url.replace(parts.netloc, parts.netloc.rsplit("@", 1)[-1])
    return url


def forge_kind_of(value: str) -> ForgeKind:
    """The ForgeKind a `forge` property names; ForgeNotConfigured lists the accepted names."""
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    if key == "bitbucket":
        raise ForgeNotConfigured(
            "forge 'bitbucket' is ambiguous: use bitbucket_cloud or bitbucket_datacenter"
        )
    try:
        return _ALIASES[key]
    except KeyError:
        raise ForgeNotConfigured(
            f"unknown forge {value!r}; use one of {', '.join(sorted(_ALIASES))}"
        ) from None


def _kind(remote: _Remote, provider: GitProvider, forced: str | None) -> ForgeKind:
    if forced:
        if forced.strip().lower() == "bitbucket":
            return (
                ForgeKind.BITBUCKET_CLOUD
                if remote.host == "bitbucket.org"
                else ForgeKind.BITBUCKET_DATACENTER
            )
        return forge_kind_of(forced)
    host = remote.host.lower().split(":")[0]
    if host in _KNOWN_HOSTS:
        return _KNOWN_HOSTS[host]
    if host.endswith(".visualstudio.com"):
        return ForgeKind.AZURE_DEVOPS
    if provider == GitProvider.BITBUCKET:
        return ForgeKind.BITBUCKET_DATACENTER
    if provider in _BY_PROVIDER:
        return _BY_PROVIDER[provider]
    if "/_git/" in f"/{remote.path}":
        return ForgeKind.AZURE_DEVOPS
    if remote.path.startswith("scm/"):
        return ForgeKind.BITBUCKET_DATACENTER
    raise ForgeNotConfigured(
        f"cannot tell which forge hosts {remote.host}: set the repository's provider "
        "(github, gitlab, gitea, bitbucket, azure_devops) or its 'forge' property"
    )


def _azure(remote: _Remote) -> tuple[str, str, str]:
    """(api root, org/project/repo or project/repo, web root) of an Azure DevOps remote."""
    host = remote.host.lower()
    segments = remote.path.split("/")
    if host == "ssh.dev.azure.com" or host.startswith("vs-ssh."):
        # git@ssh.dev.azure.com:v3/org/project/repo
        if segments and segments[0] == "v3":
            segments = segments[1:]
        if host == "ssh.dev.azure.com":
            return "https://dev.azure.com", "/".join(segments), "https://dev.azure.com"
        org_host = host.removeprefix("vs-ssh.")
        return f"https://{org_host}", "/".join(segments[1:]), f"https://{org_host}"
    root = f"{remote.scheme}://{remote.host}"
    if "_git" in segments:
        at = segments.index("_git")
        prefix, repo = segments[:at], segments[at + 1 : at + 2]
        # https://dev.azure.com/org/_git/repo names the project like the repository
        if host == "dev.azure.com" and len(prefix) == 1:
            prefix = [*prefix, *repo]
        return root, "/".join([*prefix, *repo]), root
    return root, remote.path, root


def _bitbucket_server(remote: _Remote) -> tuple[str, str]:
    """(API root, KEY/repo) of a Bitbucket Data Center remote (https /scm/ or ssh)."""
    segments = remote.path.split("/")
    if "scm" in segments:
        at = segments.index("scm")
        context = "/".join(segments[:at])
        project = "/".join(segments[at + 1 :])
    else:
        context, project = "", remote.path
    base = f"{remote.scheme}://{remote.host}" + (f"/{context}" if context else "")
    return f"{base}/rest/api/1.0", project


def resolve_location(
    url: str, provider: GitProvider | int, properties: Mapping[str, Any] | None
) -> ForgeLocation:
    """Provider, API root and project path of a repository; ForgeNotConfigured says which
    property to set when the URL does not tell."""
    props = properties or {}
    forced = props.get(FORGE_PROPERTY)
    api_override = props.get(API_URL_PROPERTY)
    project_override = props.get(PROJECT_PROPERTY)
    for name, value in (
        (FORGE_PROPERTY, forced),
        (API_URL_PROPERTY, api_override),
        (PROJECT_PROPERTY, project_override),
    ):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ForgeNotConfigured(f"repository property {name} must be a non-empty string")
    remote = _parse_remote(url)
    kind = _kind(remote, GitProvider(int(provider)), forced)
    origin = f"{remote.scheme}://{remote.host}"
    project = remote.path
    web_root = origin
    if kind == ForgeKind.GITHUB:
        api = (
            "https://api.github.com" if remote.host.lower() == "github.com" else f"{origin}/api/v3"
        )
    elif kind == ForgeKind.GITLAB:
        api = f"{origin}/api/v4"
    elif kind == ForgeKind.GITEA:
        api = f"{origin}/api/v1"
    elif kind == ForgeKind.BITBUCKET_CLOUD:
        api, web_root = "https://api.bitbucket.org/2.0", "https://bitbucket.org"
    elif kind == ForgeKind.BITBUCKET_DATACENTER:
        api, project = _bitbucket_server(remote)
        web_root = api.removesuffix("/rest/api/1.0")
    else:
        api, project, web_root = _azure(remote)
    if api_override:
        api = _check_api_url(api_override.strip())
    if project_override:
        project = project_override.strip().strip("/")
    _check_project(kind, project)
    return ForgeLocation(kind=kind, api_root=api.rstrip("/"), project=project, web_root=web_root)


def _check_api_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ForgeNotConfigured(
            f"repository property {API_URL_PROPERTY} must be an absolute http(s) URL"
        )
    if parts.username is not None or parts.password is not None:
        raise ForgeNotConfigured(
            f"repository property {API_URL_PROPERTY} must not embed credentials; "
            "store them as the repository's credential"
        )
    return value


_SEGMENTS = {
    ForgeKind.GITHUB: (2, 2),
    ForgeKind.GITEA: (2, 2),
    ForgeKind.BITBUCKET_CLOUD: (2, 2),
    ForgeKind.BITBUCKET_DATACENTER: (2, 2),
    ForgeKind.GITLAB: (2, 64),
    ForgeKind.AZURE_DEVOPS: (2, 3),
}
_EXAMPLES = {
    ForgeKind.GITHUB: "owner/repo",
    ForgeKind.GITEA: "owner/repo",
    ForgeKind.BITBUCKET_CLOUD: "workspace/repo",
    ForgeKind.BITBUCKET_DATACENTER: "PROJECTKEY/repo",
    ForgeKind.GITLAB: "group/subgroup/project",
    ForgeKind.AZURE_DEVOPS: "org/project/repo",
}


def _check_project(kind: ForgeKind, project: str) -> None:
    segments = project.split("/") if project else []
    low, high = _SEGMENTS[kind]
    if not low <= len(segments) <= high or any(
        not s or s in (".", "..") or any(ord(c) < 33 for c in s) for s in segments
    ):
        raise ForgeNotConfigured(
            f"{kind.display_name} project path {project!r} is not of the form "
            f"{_EXAMPLES[kind]}; set the repository property {PROJECT_PROPERTY}"
        )

"""Builders shared by the git engine tests: an engine set up for the local test servers."""

from __future__ import annotations

from pathlib import Path

from activities.git import GitConfig, GitCredential, GitEngine
from domain.enums import CredentialType
from domain.values import CredentialData


def engine_for(tmp_path: Path, **overrides: object) -> GitEngine:
    config = GitConfig(
        workspace_root=tmp_path / "workspaces",
        mirror_root=tmp_path / "mirrors",
        allow_local_remotes=True,
        allow_plain_http=True,
        denied_hosts=(),
        **{
            "ssh_unverified_hosts": ("127.0.0.1",),
            "author_name": "Builder Bot",
            "author_email": "bot@builder.test",
            **overrides,
        },  # type: ignore[arg-type]
    )
    return GitEngine(config)


def basic(user: str, password: str) -> GitCredential:
    return GitCredential(CredentialType.BASIC, CredentialData(username=user, password=password))


def token(value: str) -> GitCredential:
    return GitCredential(CredentialType.TOKEN, CredentialData(token=value))


def oauth(value: str) -> GitCredential:
    return GitCredential(CredentialType.OAUTH, CredentialData(oauth_token=value))


def ssh_key(private_key: str) -> GitCredential:
    return GitCredential(CredentialType.SSH_KEY, CredentialData(ssh_private_key=private_key))

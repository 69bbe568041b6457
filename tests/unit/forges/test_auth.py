"""Each forge gets the repository's credential in its own header scheme."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from activities.forges import ForgeAuthFailed, ForgeKind
from activities.forges.auth import auth_headers
from activities.git.credentials import GitCredential
from domain.enums import CredentialType, ErrorCode
from domain.values import CredentialData

TOKEN = GitCredential(CredentialType.TOKEN, CredentialData(token=SecretStr("tkn")))
OAUTH = GitCredential(CredentialType.OAUTH, CredentialData(oauth_token=SecretStr("oat")))
BASIC = GitCredential(CredentialType.BASIC, CredentialData(username="me", password=SecretStr("pw")))


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    ("kind", "credential", "expected"),
    [
        (ForgeKind.GITHUB, TOKEN, {"Authorization": "Bearer tkn"}),
        (ForgeKind.GITHUB, BASIC, {"Authorization": _basic("me", "pw")}),
        (ForgeKind.GITLAB, TOKEN, {"PRIVATE-TOKEN": "tkn"}),
        (ForgeKind.GITLAB, OAUTH, {"Authorization": "Bearer oat"}),
        (ForgeKind.GITLAB, BASIC, {"PRIVATE-TOKEN": "pw"}),
        (ForgeKind.GITEA, TOKEN, {"Authorization": "token tkn"}),
        (ForgeKind.GITEA, BASIC, {"Authorization": _basic("me", "pw")}),
        (ForgeKind.BITBUCKET_CLOUD, BASIC, {"Authorization": _basic("me", "pw")}),
        (ForgeKind.BITBUCKET_CLOUD, TOKEN, {"Authorization": "Bearer tkn"}),
        (ForgeKind.BITBUCKET_DATACENTER, TOKEN, {"Authorization": "Bearer tkn"}),
        (ForgeKind.AZURE_DEVOPS, TOKEN, {"Authorization": _basic("", "tkn")}),
        (ForgeKind.AZURE_DEVOPS, OAUTH, {"Authorization": "Bearer oat"}),
    ],
)
def test_each_forge_gets_its_own_scheme(
    kind: ForgeKind, credential: GitCredential, expected: dict[str, str]
) -> None:
    assert auth_headers(kind, credential) == expected


def test_bitbucket_cloud_token_with_a_user_name_is_an_app_password() -> None:
    app_password = GitCredential(
        CredentialType.TOKEN, CredentialData(username="me", token=SecretStr("app"))
    )
    assert auth_headers(ForgeKind.BITBUCKET_CLOUD, app_password) == {
        "Authorization": _basic("me", "app")
    }


@pytest.mark.parametrize(
    "credential",
    [None, GitCredential(CredentialType.SSH_KEY, CredentialData(ssh_private_key=SecretStr("KEY")))],
)
def test_no_credential_or_an_ssh_key_cannot_call_an_api(credential: GitCredential | None) -> None:
    with pytest.raises(ForgeAuthFailed) as caught:
        auth_headers(ForgeKind.GITHUB, credential)
    assert caught.value.code == ErrorCode.REPOSITORY_ACCESS
    assert "token" in caught.value.message and "KEY" not in caught.value.message

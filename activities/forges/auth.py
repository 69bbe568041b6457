"""How each forge's API wants the repository's credential, and which permission it needs.

The same vault credential that pushes the branch opens the pull request; only the header
differs. An SSH key cannot call any of these APIs.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from activities.forges.errors import ForgeAuthFailed
from activities.forges.model import ForgeKind
from domain.enums import CredentialType

if TYPE_CHECKING:
    # pygit2 stays out of processes that only validate forge settings (the API)
    from activities.git.credentials import GitCredential

SCOPES = {
    ForgeKind.GITHUB: (
        "a fine-grained token with 'Pull requests: read and write' and 'Contents: read and "
        "write' (and 'Issues: read and write' for labels and assignees), or a classic token "
        "with the 'repo' scope"
    ),
    ForgeKind.GITLAB: (
        "a personal, project or group access token with the 'api' scope and at least the "
        "Developer role"
    ),
    ForgeKind.GITEA: "a token with the 'write:repository' and 'write:issue' scopes",
    ForgeKind.BITBUCKET_CLOUD: (
        "an API token or app password with 'Pull requests: Write' and 'Repositories: Write' "
        "(scopes pullrequest:write, repository:write)"
    ),
    ForgeKind.BITBUCKET_DATACENTER: (
        "an HTTP access token (or personal access token) with 'Repository write' permission"
    ),
    ForgeKind.AZURE_DEVOPS: "a personal access token with the 'Code (Read & write)' scope",
}


def _basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def auth_headers(kind: ForgeKind, credential: GitCredential | None) -> dict[str, str]:
    """The request headers that authenticate to `kind`'s API with `credential`."""
    name = kind.display_name
    if credential is None:
        raise ForgeAuthFailed(
            f"opening pull requests on {name} needs a credential and the repository has "
            f"none; register {SCOPES[kind]}"
        )
    data = credential.data
    if credential.type == CredentialType.SSH_KEY:
        raise ForgeAuthFailed(
            f"an SSH key cannot call the {name} API; register a token credential instead: "
            f"{SCOPES[kind]}"
        )
    if credential.type == CredentialType.OAUTH and data.oauth_token is not None:
        # every provider takes an OAuth access token as a Bearer token
        return {"Authorization": f"Bearer {data.oauth_token.get_secret_value()}"}
    if credential.type == CredentialType.BASIC and data.password is not None and data.username:
        password = data.password.get_secret_value()
        if kind == ForgeKind.GITLAB:
            # GitLab takes a token as the basic password for git, but only the token for the API
            return {"PRIVATE-TOKEN": password}
        return {"Authorization": _basic(data.username, password)}
    if credential.type == CredentialType.TOKEN and data.token is not None:
        token = data.token.get_secret_value()
        if kind == ForgeKind.GITLAB:
            return {"PRIVATE-TOKEN": token}
        if kind == ForgeKind.GITEA:
            return {"Authorization": f"token {token}"}
        if kind == ForgeKind.AZURE_DEVOPS:
            # a PAT is the basic password; the user name is ignored
            return {"Authorization": _basic(data.username or "", token)}
        if kind == ForgeKind.BITBUCKET_CLOUD and data.username:
            # an app password or API token goes with the account's user name / e-mail
            return {"Authorization": _basic(data.username, token)}
        return {"Authorization": f"Bearer {token}"}
    raise ForgeAuthFailed(
        f"the repository's {credential.type.name.lower()} credential lacks its secret; "
        f"register {SCOPES[kind]}"
    )

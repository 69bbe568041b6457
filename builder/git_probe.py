"""The API's RemoteProbe port filled with the git engine (pygit2), imported on first use so
the API process starts without loading libgit2."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from domain.enums import CredentialType
from domain.values import CredentialData

if TYPE_CHECKING:
    from activities.git.config import GitConfig


class GitRemoteProbe:
    """Counts a remote's refs with `git ls-remote` semantics (libgit2), under `config`'s
    remote policy."""

    def __init__(self, config: GitConfig) -> None:
        self._config = config

    def count_refs(
        self,
        url: str,
        credential_type: CredentialType,
        credential: CredentialData,
        cancel: threading.Event,
    ) -> int:
        from activities.git.credentials import GitCredential
        from activities.git.push import list_remote_refs

        refs = list_remote_refs(
            url, GitCredential(type=credential_type, data=credential), self._config, None, cancel
        )
        return len(refs)

    def default_branch(self, url: str, cancel: threading.Event) -> str | None:
        from activities.git.remote_head import remote_default_branch

        return remote_default_branch(url, None, self._config, cancel)

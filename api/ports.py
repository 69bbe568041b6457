"""What the API needs from the git engine, as a narrow port: the composition root fills it
with the real implementation (builder/git_probe.py), so importing the API never loads
pygit2 and the API process only pays for git when a credential is validated."""

from __future__ import annotations

import threading
from typing import Protocol

from domain.enums import CredentialType
from domain.values import CredentialData


class RemoteProbe(Protocol):
    """What the API asks of a remote: whether a credential works, and its default branch."""

    def count_refs(
        self,
        url: str,
        credential_type: CredentialType,
        credential: CredentialData,
        cancel: threading.Event,
    ) -> int:
        """The number of refs the remote lists (blocking: the API runs it in a thread).

        Raises RepositoryAccessError when the remote cannot be reached or refuses the
        credential, PolicyViolation when the URL breaks the remote policy.
        """
        ...

    def default_branch(self, url: str, cancel: threading.Event) -> str | None:
        """The branch the remote's HEAD points to, read anonymously; None when it
        advertises none. Raises like `count_refs`."""
        ...

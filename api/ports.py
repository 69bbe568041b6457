"""What the API needs from the git engine, as a narrow port: the composition root fills it
with the real implementation (builder/git_probe.py), so importing the API never loads
pygit2 and the API process only pays for git when a credential is validated."""

from __future__ import annotations

import threading
from typing import Protocol

from domain.enums import CredentialType
from domain.values import CredentialData


class RemoteProbe(Protocol):
    """Lists a remote's refs with a credential: proves the credential works."""

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

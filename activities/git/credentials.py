"""Turns a stored credential into libgit2 callbacks, with progress and cancellation.

libgit2 asks for credentials again after every rejection, forever; the callbacks give up
after one rejected attempt and report it as a RepositoryAccessError that never contains
the secret.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pygit2
from cryptography.hazmat.primitives import serialization
from pygit2.enums import CredentialType as GitCredentialKind

from activities.git.config import GitConfig
from activities.git.errors import OperationCancelled
from activities.git.progress import ProgressCallback, ProgressReporter, check_cancelled
from activities.git.remote_url import redact_url
from domain.enums import CredentialType
from domain.errors import DomainError, RepositoryAccessError
from domain.values import CredentialData

# User names hosts accept with a token as password (GitHub, GitLab, Gitea, Bitbucket...).
_TOKEN_USER = "x-access-token"
_OAUTH_USER = "oauth2"


@dataclass(frozen=True)
class GitCredential:
    """A decrypted credential and how it authenticates; None elsewhere means anonymous."""

    type: CredentialType
    data: CredentialData

    def secrets(self) -> list[str]:
        return self.data.secret_values()


def redact(text: str, credential: GitCredential | None) -> str:
    """`text` with every secret of `credential` replaced by ***."""
    if credential is not None:
        for secret in credential.secrets():
            text = text.replace(secret, "***")
    return text


class BuilderCallbacks(pygit2.RemoteCallbacks):
    """Remote callbacks for one operation: credentials, progress, cancellation, push status."""

    def __init__(
        self,
        url: str,
        credential: GitCredential | None,
        config: GitConfig,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        super().__init__()
        self._url = url
        self._credential = credential
        self._config = config
        self._reporter = ProgressReporter(progress)
        self._cancel = cancel
        self._secret_attempts = 0
        self.failure: DomainError | None = None
        self.rejected_refs: dict[str, str] = {}

    # -- credentials -----------------------------------------------------------------
    def credentials(self, url: str, username_from_url: str | None, allowed_types: Any) -> Any:
        check_cancelled(self._cancel, "authenticating")
        shown = redact_url(self._url)
        if self._credential is None:
            raise self._fail(f"{shown} requires authentication and no credential is registered")
        if self._secret_attempts >= 1:
            raise self._fail(
                f"{shown} rejected the {self._credential.type.name.lower()} credential "
                "(wrong or expired secret, or no access to this repository)"
            )
        kind = self._credential.type
        data = self._credential.data
        if kind == CredentialType.SSH_KEY:
            user = username_from_url or data.username or "git"
            if allowed_types & GitCredentialKind.USERNAME and not (
                allowed_types & GitCredentialKind.SSH_KEY
            ):
                return pygit2.Username(user)
            if not allowed_types & GitCredentialKind.SSH_KEY:
                raise self._fail(f"{shown} does not accept SSH keys; register another credential")
            self._secret_attempts += 1
            return _ssh_keypair(user, data, shown)
        if not allowed_types & GitCredentialKind.USERPASS_PLAINTEXT:
            raise self._fail(f"{shown} does not accept a user name and password/token")
        self._secret_attempts += 1
        return pygit2.UserPass(*_user_and_secret(kind, data, shown))

    def _fail(self, message: str) -> DomainError:
        self.failure = RepositoryAccessError(redact(message, self._credential))
        return self.failure

    # -- transport security ----------------------------------------------------------
    def certificate_check(self, certificate: None, valid: bool, host: bytes | str) -> bool:
        name = host.decode() if isinstance(host, bytes) else host
        if valid or name in self._config.ssh_unverified_hosts:
            return True
        self.failure = RepositoryAccessError(
            f"{redact_url(self._url)}: the host key or certificate of {name!r} "
            "could not be verified"
        )
        return False

    # -- progress and cancellation ---------------------------------------------------
    def transfer_progress(self, stats: Any) -> None:
        if self._cancel is not None and self._cancel.is_set():
            self.failure = OperationCancelled(f"cancelled while fetching {redact_url(self._url)}")
            raise self.failure
        self._reporter.report(
            f"received {stats.received_objects}/{stats.total_objects} objects, "
            f"indexed {stats.indexed_objects}"
        )

    def sideband_progress(self, string: str) -> None:
        check_cancelled(self._cancel, f"talking to {redact_url(self._url)}")

    def push_transfer_progress(
        self, objects_pushed: int, total_objects: int, bytes_pushed: int
    ) -> None:
        if self._cancel is not None and self._cancel.is_set():
            self.failure = OperationCancelled(f"cancelled while pushing to {redact_url(self._url)}")
            raise self.failure
        self._reporter.report(f"pushed {objects_pushed}/{total_objects} objects")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected_refs[refname] = message


def _user_and_secret(kind: CredentialType, data: CredentialData, shown: str) -> tuple[str, str]:
    if kind == CredentialType.BASIC:
        if not data.username or data.password is None:
            raise RepositoryAccessError(
                f"basic credential for {shown} lacks a username or password"
            )
        return data.username, data.password.get_secret_value()
    if kind == CredentialType.TOKEN:
        if data.token is None:
            raise RepositoryAccessError(f"token credential for {shown} has no token")
        return data.username or _TOKEN_USER, data.token.get_secret_value()
    if kind == CredentialType.OAUTH:
        if data.oauth_token is None:
            raise RepositoryAccessError(f"oauth credential for {shown} has no access token")
        return data.username or _OAUTH_USER, data.oauth_token.get_secret_value()
    raise RepositoryAccessError(f"credential type {kind.name} cannot authenticate to {shown}")


def _ssh_keypair(user: str, data: CredentialData, shown: str) -> pygit2.KeypairFromMemory:
    if data.ssh_private_key is None:
        raise RepositoryAccessError(f"ssh credential for {shown} has no private key")
    private = data.ssh_private_key.get_secret_value()
    passphrase = data.ssh_passphrase.get_secret_value() if data.ssh_passphrase else None
    try:
        public = _public_key_of(private, passphrase)
    except (ValueError, TypeError):
        raise RepositoryAccessError(
            f"ssh credential for {shown} holds an unreadable private key (or wrong passphrase)"
        ) from None
    return pygit2.KeypairFromMemory(user, public, private, passphrase or "")


def _public_key_of(private_pem: str, passphrase: str | None) -> str:
    """OpenSSH public key line of a private key; libssh2 wants both halves in memory."""
    key = (
        serialization.load_ssh_private_key(
            private_pem.encode(), passphrase.encode() if passphrase else None
        )
        if "OPENSSH PRIVATE KEY" in private_pem
        else serialization.load_pem_private_key(
            private_pem.encode(), passphrase.encode() if passphrase else None
        )
    )
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def raise_for_remote_error(
    error: BaseException,
    callbacks: BuilderCallbacks,
    doing: str,
    url: str,
    credential: GitCredential | None,
) -> None:
    """Translate a libgit2 failure into a domain error, preferring what a callback recorded."""
    if callbacks.failure is not None:
        raise callbacks.failure from None
    if isinstance(error, DomainError):
        raise error
    message = redact(redact_url(str(error)), credential)
    failure = RepositoryAccessError(f"{doing} {redact_url(url)} failed: {message}")
    lowered = message.lower()
    # auth and not-found failures will not heal by themselves; network hiccups may
    failure.retryable = not any(
        word in lowered for word in ("auth", "401", "403", "404", "not found", "denied")
    )
    raise failure from None

"""The branch a remote's HEAD points to (what `git ls-remote --symref URL HEAD` shows): the
default branch a repository is registered with when none is given."""

from __future__ import annotations

import tempfile
import threading

import pygit2

from activities.git.config import GitConfig
from activities.git.credentials import BuilderCallbacks, GitCredential, raise_for_remote_error
from activities.git.progress import check_cancelled
from activities.git.remote_url import check_remote_url, redact_url

_HEADS = "refs/heads/"


def remote_default_branch(
    url: str,
    credential: GitCredential | None,
    config: GitConfig,
    cancel: threading.Event | None = None,
) -> str | None:
    """The branch name HEAD refers to on `url`, or None when the remote advertises no HEAD
    symref (an empty repository, or a server that does not say). Raises PolicyViolation for a
    refused URL and RepositoryAccessError when the remote cannot be read."""
    check_remote_url(url, config)
    check_cancelled(cancel, f"reading HEAD of {redact_url(url)}")
    with tempfile.TemporaryDirectory(prefix="builder-remote-head-") as scratch:
        repo = pygit2.init_repository(scratch, bare=True)
        try:
            callbacks = BuilderCallbacks(url, credential, config, None, cancel)
            remote = repo.remotes.create_anonymous(url)
            try:
                heads = remote.list_heads(callbacks=callbacks)
            except Exception as error:
                raise_for_remote_error(error, callbacks, "reading HEAD of", url, credential)
        finally:
            repo.free()
    for head in heads:
        target = head.symref_target
        if head.name == "HEAD" and target and str(target).startswith(_HEADS):
            return str(target)[len(_HEADS) :]
    return None

"""Pushing the feature branch without ever overwriting commits builder did not make (an
exact recorded commit, or the local branch), and listing a remote's refs (credential
validation)."""

from __future__ import annotations

import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pygit2

from activities.git.config import GitConfig
from activities.git.credentials import BuilderCallbacks, GitCredential, raise_for_remote_error
from activities.git.progress import ProgressCallback, ProgressReporter, check_cancelled
from activities.git.remote_url import check_remote_url, redact_url
from domain.errors import PolicyViolation, PushRejected


@dataclass(frozen=True)
class PushResult:
    """The remote branch's head after the push, and whether it was already there."""

    remote_sha: str
    already_up_to_date: bool


def _remote_heads(
    repo: pygit2.Repository,
    url: str,
    credential: GitCredential | None,
    config: GitConfig,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> dict[str, str]:
    callbacks = BuilderCallbacks(url, credential, config, progress, cancel)
    remote = repo.remotes.create_anonymous(url)
    try:
        heads = remote.list_heads(callbacks=callbacks)
    except Exception as error:
        raise_for_remote_error(error, callbacks, "listing refs of", url, credential)
    return {str(head.name): str(head.oid) for head in heads}


def list_remote_refs(
    url: str,
    credential: GitCredential | None,
    config: GitConfig,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, str]:
    """`git ls-remote`: ref name -> SHA. Raises RepositoryAccessError on bad credentials."""
    check_remote_url(url, config)
    check_cancelled(cancel, f"listing refs of {redact_url(url)}")
    with tempfile.TemporaryDirectory(prefix="builder-ls-remote-") as scratch:
        repo = pygit2.init_repository(scratch, bare=True)
        try:
            return _remote_heads(repo, url, credential, config, progress, cancel)
        finally:
            repo.free()


def push_branch(
    ws_path: Path | str,
    url: str,
    credential: GitCredential | None,
    feature_branch: str,
    config: GitConfig,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> PushResult:
    """Push the local `feature_branch` to the same name on `url`, fast-forward only."""
    check_remote_url(url, config)
    repo = pygit2.Repository(str(ws_path))
    local = repo.references.get(f"refs/heads/{feature_branch}")
    if local is None:
        raise PolicyViolation(f"branch {feature_branch!r} does not exist in workspace {ws_path}")
    head = str(local.peel(pygit2.Commit).id)
    return _push_sha(repo, url, credential, feature_branch, head, config, progress, cancel)


def push_commit(
    ws_path: Path | str,
    url: str,
    credential: GitCredential | None,
    feature_branch: str,
    commit_sha: str,
    config: GitConfig,
    *,
    base_commit: str,
    expected_tree: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> PushResult:
    """Push exactly `commit_sha` as `feature_branch` on `url`, fast-forward only.

    The workspace's branch ref and HEAD are never read: a command that ran in the worktree
    could have moved them. The commit must exist, descend from (or be) `base_commit`, and,
    when `expected_tree` is given, have that tree. Raises PushRejected otherwise, or when the
    remote branch holds commits builder did not make.
    """
    check_remote_url(url, config)
    shown = redact_url(url)
    if not pygit2.reference_is_valid_name(f"refs/heads/{feature_branch}"):
        raise PolicyViolation(f"feature branch name {feature_branch!r} is not a valid branch name")
    repo = pygit2.Repository(str(ws_path))
    commit = _commit(repo, commit_sha)
    if commit is None:
        raise PushRejected(
            f"the recorded commit {commit_sha!r} is not in the workspace; not pushing "
            f"{feature_branch!r} to {shown}",
            details={"commit_sha": commit_sha},
        )
    sha = str(commit.id)
    if expected_tree is not None and str(commit.tree_id) != expected_tree:
        raise PushRejected(
            f"commit {sha[:12]} has tree {str(commit.tree_id)[:12]}, not the verified tree "
            f"{expected_tree[:12]}; not pushing {feature_branch!r}",
            details={"commit_sha": sha, "tree": str(commit.tree_id), "expected": expected_tree},
        )
    base = _commit(repo, base_commit)
    if base is None or (sha != str(base.id) and not repo.descendant_of(commit.id, base.id)):
        raise PushRejected(
            f"commit {sha[:12]} does not descend from the base commit {base_commit[:12]}; "
            f"not pushing {feature_branch!r}",
            details={"commit_sha": sha, "base_commit": base_commit},
        )
    return _push_sha(repo, url, credential, feature_branch, sha, config, progress, cancel)


def _commit(repo: pygit2.Repository, sha: str) -> pygit2.Commit | None:
    if not re.fullmatch(r"[0-9a-f]{40}", sha or ""):
        return None
    try:
        obj = repo.get(sha)
    except ValueError:
        return None
    return obj if isinstance(obj, pygit2.Commit) else None


def _push_sha(
    repo: pygit2.Repository,
    url: str,
    credential: GitCredential | None,
    feature_branch: str,
    head: str,
    config: GitConfig,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> PushResult:
    """Make the remote `feature_branch` point at `head` if that is a fast-forward."""
    shown = redact_url(url)
    reporter = ProgressReporter(progress)
    ref_name = f"refs/heads/{feature_branch}"
    reporter.report(f"reading {feature_branch} on {shown}", force=True)
    remote_sha = _remote_heads(repo, url, credential, config, progress, cancel).get(ref_name)
    if remote_sha == head:
        return PushResult(remote_sha=head, already_up_to_date=True)
    if remote_sha is not None and not _is_ancestor(repo, remote_sha, head):
        raise PushRejected(
            f"remote branch {feature_branch!r} on {shown} is at {remote_sha[:12]}, which has "
            f"commits builder did not make; refusing to overwrite it with {head[:12]}"
        )
    check_cancelled(cancel, f"pushing {feature_branch} to {shown}")
    callbacks = BuilderCallbacks(url, credential, config, progress, cancel)
    remote = repo.remotes.create_anonymous(url)
    try:
        # the source is the commit id itself, never a local ref; no '+': the server also
        # refuses anything but a fast-forward
        remote.push([f"{head}:{ref_name}"], callbacks=callbacks)
    except Exception as error:
        if "non-fast-forward" in str(error) or "fast forward" in str(error).lower():
            raise PushRejected(
                f"remote branch {feature_branch!r} on {shown} moved during the push; "
                "not overwritten"
            ) from None
        raise_for_remote_error(error, callbacks, "pushing to", url, credential)
    if callbacks.rejected_refs:
        reason = callbacks.rejected_refs.get(ref_name, next(iter(callbacks.rejected_refs.values())))
        raise PushRejected(f"{shown} rejected branch {feature_branch!r}: {reason}")
    reporter.report(f"pushed {feature_branch} at {head[:12]}", force=True)
    return PushResult(remote_sha=head, already_up_to_date=False)


def _is_ancestor(repo: pygit2.Repository, ancestor: str, head: str) -> bool:
    try:
        if repo.get(ancestor) is None:
            return False  # we never saw that commit: it is someone else's
    except ValueError:
        return False
    return ancestor == head or repo.descendant_of(head, ancestor)

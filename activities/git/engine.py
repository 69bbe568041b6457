"""The git workspace engine as activities use it: one object bound to a GitConfig.

Plain Python, no Temporal: every long call takes a progress callback (heartbeats) and a
cancellation event, and raises the domain's errors.
"""

from __future__ import annotations

import threading
from pathlib import Path

from activities.git.commits import Author, CommitResult
from activities.git.commits import commit as commit_worktree
from activities.git.config import GitConfig
from activities.git.credentials import GitCredential
from activities.git.edit_application import apply_edits
from activities.git.errors import ReplayDiverged
from activities.git.progress import ProgressCallback, check_cancelled
from activities.git.push import PushResult, list_remote_refs, push_branch, push_commit
from activities.git.replay import ReplayStep
from activities.git.workspaces import Workspace, WorkspaceStore
from domain.errors import GenerationFailed


class GitEngine:
    """Mirror cache, workspaces, edits, commits, rebuilds and pushes for one worker."""

    def __init__(self, config: GitConfig) -> None:
        self.config = config
        self.workspaces = WorkspaceStore(config)
        self.author = Author(config.author_name, config.author_email)

    def open_workspace(
        self,
        url: str,
        credential: GitCredential | None,
        key: str,
        target_branch: str,
        feature_branch: str,
        base_commit: str | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        *,
        tenant: str,
    ) -> Workspace:
        """Fetch into the mirror and give `key` a checkout of the base on `feature_branch`,
        reusing a workspace only `tenant` released for `url`."""
        return self.workspaces.open_workspace(
            url, credential, key, target_branch, feature_branch, base_commit, progress, cancel,
            tenant=tenant,
        )  # fmt: skip

    def release_workspace(self, key: str, keep_warm: bool) -> None:
        """Done with `key`: keep its checkout for the next execution on the repo, or delete it."""
        self.workspaces.release_workspace(key, keep_warm)

    def remove_workspace(self, key: str) -> None:
        """Delete the workspace of `key` (no-op when absent)."""
        self.workspaces.remove_workspace(key)

    def empty_trash(self) -> int:
        """Delete discarded workspaces now instead of in the background; how many."""
        return self.workspaces.empty_trash()

    def workspace_path(self, key: str) -> Path:
        return self.workspaces.path_of(key)

    def apply_edits(
        self,
        ws_path: Path | str,
        edits: list,  # list[FileEdit]; kept loose so callers may pass parsed JSON models
        allowed_paths: list[str] | None = None,
        forbidden_paths: list[str] | None = None,
    ) -> list[str]:
        """Check every edit against the path policy, then write them all."""
        return apply_edits(ws_path, edits, allowed_paths, forbidden_paths)

    def commit(
        self,
        ws_path: Path | str,
        message: str,
        timestamp: int,
        *,
        allow_empty: bool = False,
        paths: list[str] | None = None,
    ) -> CommitResult:
        """Commit deterministically as the configured author: exactly `paths` (the paths
        apply_edits returned) when given, else every change in the worktree."""
        return commit_worktree(
            ws_path, message, timestamp, self.author, allow_empty=allow_empty, paths=paths
        )

    def rebuild_workspace(
        self,
        url: str,
        credential: GitCredential | None,
        key: str,
        target_branch: str,
        feature_branch: str,
        base_commit: str,
        steps: list[ReplayStep],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        *,
        tenant: str,
    ) -> Workspace:
        """Recreate the feature branch from `base_commit` and the stored steps, SHA for SHA."""
        workspace = self.open_workspace(
            url, credential, key, target_branch, feature_branch, base_commit, progress, cancel,
            tenant=tenant,
        )  # fmt: skip
        head = workspace.head
        for number, step in enumerate(steps, start=1):
            check_cancelled(cancel, f"replaying step {number} of {len(steps)}")
            touched = apply_edits(workspace.path, list(step.edits))
            try:
                result = commit_worktree(
                    workspace.path, step.message, step.timestamp, self.author, paths=touched
                )
            except GenerationFailed:
                raise ReplayDiverged(
                    f"replayed step {number} produced no changes; "
                    f"expected commit {step.expected_sha}"
                ) from None
            if result.sha != step.expected_sha:
                raise ReplayDiverged(
                    f"replayed step {number} produced commit {result.sha}, "
                    f"expected {step.expected_sha}"
                )
            head = result.sha
            if progress is not None:
                progress(f"replayed step {number}/{len(steps)} -> {head[:12]}")
        return Workspace(workspace.path, workspace.base_commit, feature_branch, head)

    def push_branch(
        self,
        ws_path: Path | str,
        url: str,
        credential: GitCredential | None,
        feature_branch: str,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> PushResult:
        """Push the feature branch; refuses to overwrite foreign commits, no-op when there."""
        return push_branch(ws_path, url, credential, feature_branch, self.config, progress, cancel)

    def push_commit(
        self,
        ws_path: Path | str,
        url: str,
        credential: GitCredential | None,
        feature_branch: str,
        commit_sha: str,
        *,
        base_commit: str,
        expected_tree: str | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> PushResult:
        """Push exactly `commit_sha` (the recorded, tested step commit) to `feature_branch`,
        fast-forward only, never reading the workspace's branch ref or HEAD."""
        return push_commit(
            ws_path, url, credential, feature_branch, commit_sha, self.config,
            base_commit=base_commit, expected_tree=expected_tree, progress=progress,
            cancel=cancel,
        )  # fmt: skip

    def list_remote_refs(
        self, url: str, credential: GitCredential | None, cancel: threading.Event | None = None
    ) -> dict[str, str]:
        """Ref name -> SHA of the remote; validates the credential."""
        return list_remote_refs(url, credential, self.config, cancel=cancel)

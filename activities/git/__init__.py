"""Git workspace engine: mirror cache, workspaces, path-checked edits, deterministic
commits, rebuilds and safe pushes, over pygit2. Plain Python, no Temporal.

The names below load on first use, so importing a light submodule (`activities.git.config`,
`remote_url`) does not load pygit2: processes that only check URLs (the API) never pay for
libgit2.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Author": "commits",
    "CommitResult": "commits",
    "commit": "commits",
    "diff_stats": "commits",
    "GitConfig": "config",
    "default_denied_hosts": "config",
    "GitCredential": "credentials",
    "apply_edits": "edit_application",
    "check_edit_path": "edit_application",
    "GitEngine": "engine",
    "OperationCancelled": "errors",
    "ReplayDiverged": "errors",
    "MirrorCache": "mirror_cache",
    "PushResult": "push",
    "list_remote_refs": "push",
    "push_branch": "push",
    "push_commit": "push",
    "RemoteLocation": "remote_url",
    "check_remote_url": "remote_url",
    "redact_url": "remote_url",
    "ReplayStep": "replay",
    "Workspace": "workspaces",
    "WorkspaceStore": "workspaces",
}

__all__ = [
    "Author",
    "CommitResult",
    "GitConfig",
    "GitCredential",
    "GitEngine",
    "MirrorCache",
    "OperationCancelled",
    "PushResult",
    "RemoteLocation",
    "ReplayDiverged",
    "ReplayStep",
    "Workspace",
    "WorkspaceStore",
    "apply_edits",
    "check_edit_path",
    "check_remote_url",
    "commit",
    "default_denied_hosts",
    "diff_stats",
    "feature_branch_name",
    "list_remote_refs",
    "push_branch",
    "push_commit",
    "redact_url",
]


def __getattr__(name: str) -> Any:
    if name == "feature_branch_name":
        from domain.branches import feature_branch_name

        return feature_branch_name
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'activities.git' has no attribute {name!r}")
    return getattr(importlib.import_module(f"activities.git.{module}"), name)


if TYPE_CHECKING:
    from activities.git.commits import Author, CommitResult, commit, diff_stats
    from activities.git.config import GitConfig, default_denied_hosts
    from activities.git.credentials import GitCredential
    from activities.git.edit_application import apply_edits, check_edit_path
    from activities.git.engine import GitEngine
    from activities.git.errors import OperationCancelled, ReplayDiverged
    from activities.git.mirror_cache import MirrorCache
    from activities.git.push import PushResult, list_remote_refs, push_branch, push_commit
    from activities.git.remote_url import RemoteLocation, check_remote_url, redact_url
    from activities.git.replay import ReplayStep
    from activities.git.workspaces import Workspace, WorkspaceStore
    from domain.branches import feature_branch_name

"""Git workspace engine: mirror cache, workspaces, path-checked edits, deterministic
commits, rebuilds and safe pushes, over pygit2. Plain Python, no Temporal."""

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

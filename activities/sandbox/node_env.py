"""A Node environment: the project's `node_modules`, installed by its own package manager
(the repository's setup command: `npm ci`, `pnpm install --frozen-lockfile`, ...) into the
cached environment at /env/node/node_modules, and shown to every run at
/workspace/node_modules, where Node, `npm run` (node_modules/.bin) and the runners look.

The worktree holds only the empty mount point; git ignores an empty directory, so nothing
setup installs can enter a commit. Without a lock file the package manager is told not to
write one into the worktree either.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from domain.setup_plan import NodeEnvironment, SetupPlan

MODULES = "node/node_modules"
WORKTREE_MODULES = "node_modules"


def node_environment(plan: SetupPlan) -> NodeEnvironment | None:
    return next((e for e in plan.environments if isinstance(e, NodeEnvironment)), None)


def node_binds(worktree: Path) -> tuple[tuple[str, str], ...]:
    """The environment's node_modules over the worktree's, unless the worktree has something
    other than a directory there (a committed symlink or file is never mounted over)."""
    try:
        mode = os.lstat(worktree / WORKTREE_MODULES).st_mode
    except FileNotFoundError:
        return ((MODULES, WORKTREE_MODULES),)
    return ((MODULES, WORKTREE_MODULES),) if stat.S_ISDIR(mode) else ()


def node_setup_variables(node: NodeEnvironment) -> dict[str, str]:
    """Setup's variables: without a lock file npm and pnpm write none into the worktree."""
    if node.lock_file is not None:
        return {}
    return {"npm_config_package_lock": "false", "npm_config_lockfile": "false"}


def node_identity() -> str:
    """Which Node the worker runs (its modules' native parts are built for it)."""
    found = shutil.which("node")
    if found is None:
        return "node:none"
    real = os.path.realpath(found)
    try:
        return f"node:{real}:{os.stat(real).st_mtime_ns}"
    except OSError:
        return f"node:{real}"


def prepare_staging(staging: Path, binds: tuple[tuple[str, str], ...]) -> None:
    """The directories a writable environment's worktree binds mount."""
    for source, _target in binds:
        (staging / source).mkdir(parents=True, exist_ok=True)

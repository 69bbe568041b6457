"""The one owner of each worktree's state on this worker.

Every activity that touches a worktree asks `WorktreeCache.prepare` for it, saying how it
will use it. The cache knows which worktrees this process left clean at which commit;
anything that may dirty a worktree (a sandboxed build or test) forgets that, so the next
edit always starts from a verified clean tree (a repair commit can never pick up build
output). All pygit2 work runs in the engine thread pool, never on the event loop.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from activities.git import GitCredential, GitEngine, ReplayStep
from activities.git.worktree_state import has_commit, is_clean, reset_worktree, worktree_head
from activities.phases.context import ExecutionContext
from activities.runtime import Progress, run_blocking
from domain.edits import FileEdit, file_edits_adapter
from domain.enums import StepState
from persistence.tables import ExecutionStepRow


class Use(enum.Enum):
    """How an activity will use the worktree it asks for."""

    EDIT = "edit"  # generate or apply edits: exactly the expected commit's files, clean
    RUN = "run"  # run repository commands: at the expected commit; outputs may stay
    READ = "read"  # git objects or a fresh checkout: at the expected commit, maybe dirty


CredentialLoader = Callable[[ExecutionContext], Awaitable[GitCredential | None]]


class WorktreeCache:
    """Gets a worktree to the commit an activity needs: as it is, reset, or rebuilt."""

    def __init__(self, git: GitEngine, credential: CredentialLoader) -> None:
        self._git = git
        self._credential = credential
        self._clean: dict[str, str] = {}
        self._lock = threading.Lock()

    def path(self, ctx: ExecutionContext) -> Path:
        return self._git.workspace_path(ctx.key)

    async def prepare(
        self, ctx: ExecutionContext, use: Use, *, upto_step: int | None = None
    ) -> Path:
        """The worktree at the commit of the last completed step before `upto_step` (all
        completed steps when None), or at the base commit; rebuilt from the stored edits of
        the completed steps when this worker does not hold that commit."""
        done = completed_steps(ctx, upto_step)
        expected = done[-1].commit_sha if done else ctx.execution.base_commit
        key = ctx.key
        path = self.path(ctx)
        if expected:
            known = self._known_clean(key)
            branch = ctx.execution.feature_branch or ""
            ready = await run_blocking(
                lambda cancel, progress: _ready(path, expected, branch, use, known),
                what="checking the worktree",
            )
            if ready is not None:
                self._after(key, expected, use, clean=ready)
                return path
        await self._rebuild(ctx, done)
        sha = done[-1].commit_sha if done else ctx.execution.base_commit
        self._after(key, sha, use, clean=True)
        return path

    def committed(self, ctx: ExecutionContext, sha: str) -> None:
        """An edit left the worktree clean at `sha`."""
        with self._lock:
            self._clean[ctx.key] = sha

    def forget(self, ctx: ExecutionContext) -> None:
        """The worktree may be dirty (a failed edit, a command ran, it was released)."""
        with self._lock:
            self._clean.pop(ctx.key, None)

    def _known_clean(self, key: str) -> str | None:
        with self._lock:
            return self._clean.get(key)

    def _after(self, key: str, sha: str | None, use: Use, *, clean: bool) -> None:
        with self._lock:
            if use is Use.RUN or sha is None:
                self._clean.pop(key, None)
            elif clean:
                self._clean[key] = sha

    async def _rebuild(self, ctx: ExecutionContext, done: list[ExecutionStepRow]) -> None:
        """Fetch and check out the base (first use), or replay the completed steps."""
        execution = ctx.execution
        replay = [
            ReplayStep(
                edits=edits_of(s),
                message=s.commit_message or s.description,
                timestamp=s.commit_timestamp or 0,
                expected_sha=s.commit_sha or "",
            )
            for s in done
        ]
        url, credential = ctx.repository.url, await self._credential(ctx)
        branch = execution.feature_branch or ""
        # a follow-up starts from the remote head of the branch it continues (commits people
        # pushed there included); the push is then a fast-forward of that head
        target = execution.continues_branch or execution.target_branch
        base, key, git = execution.base_commit, ctx.key, self._git
        tenant = str(ctx.tenant)

        def rebuild(cancel: threading.Event, progress: Progress) -> str:
            # warm checkouts are kept per (tenant, repository): tenants share nothing writable
            if base:
                ws = git.rebuild_workspace(
                    url, credential, key, target, branch, base, replay,
                    progress=progress, cancel=cancel, tenant=tenant,
                )  # fmt: skip
            else:
                ws = git.open_workspace(
                    url, credential, key, target, branch,
                    progress=progress, cancel=cancel, tenant=tenant,
                )  # fmt: skip
            return ws.base_commit

        opened_base = await run_blocking(rebuild, what="preparing the worktree")
        if not base:
            execution.base_commit = opened_base


def _ready(
    path: Path, expected: str, branch: str, use: Use, known_clean: str | None
) -> bool | None:
    """Whether the worktree is usable as it is or after a cheap reset (blocking): None when
    it must be rebuilt, True when it is known clean, False when it may be dirty."""
    if worktree_head(path) == expected:
        if use is not Use.EDIT:
            return known_clean == expected
        if known_clean == expected or is_clean(path):
            return True
    if has_commit(path, expected):
        reset_worktree(path, expected, branch)
        return True
    return None


def completed_steps(ctx: ExecutionContext, upto_step: int | None = None) -> list[ExecutionStepRow]:
    """The completed, committed steps before `upto_step` (all when None), in order."""
    return [
        s
        for s in ctx.steps
        if s.state == StepState.COMPLETED
        and s.commit_sha
        and (upto_step is None or s.step_index < upto_step)
    ]


def edits_of(step: ExecutionStepRow) -> list[FileEdit]:
    return file_edits_adapter.validate_python(step.generated_edits or [])

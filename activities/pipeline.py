"""The pipeline of one worker: every phase's activities, bound to the worker's clients and
sharing one WorktreeCache (the owner of the worktrees this worker holds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.phases.admission import Admissions
from activities.phases.agent import AgentTurns
from activities.phases.analysis import Analysis
from activities.phases.bookkeeping import Bookkeeping
from activities.phases.context import Phase, PhaseDeps
from activities.phases.delivery import Delivery
from activities.phases.locks import Locks
from activities.phases.planning import Planning
from activities.phases.pull_request import PullRequests
from activities.phases.repair import Repairs
from activities.phases.steps import Steps
from activities.phases.verify import Verification
from activities.phases.workspace import Workspaces
from activities.phases.worktree import WorktreeCache
from workflows.activities import INTERFACES


class FeaturePipeline:
    """Assembles the phases; `activities()` is what the worker registers."""

    def __init__(self, deps: PhaseDeps) -> None:
        self.deps = deps
        self.worktrees = WorktreeCache(deps.git, Phase(deps).credential)
        on_worktree = (
            Workspaces, Analysis, Planning, Steps, AgentTurns, Repairs, Verification, Delivery
        )  # fmt: skip
        self.phases: list[Any] = [Bookkeeping(deps), Locks(deps), Admissions(deps)]
        self.phases.append(PullRequests(deps))
        self.phases += [cls(deps, self.worktrees) for cls in on_worktree]

    def activities(self) -> list[Callable[..., Any]]:
        """The bound activity methods of every interface in workflows/activities.py."""
        out: list[Callable[..., Any]] = []
        for interface in INTERFACES:
            (phase,) = [p for p in self.phases if isinstance(p, interface)]
            names = [n for n, v in vars(interface).items() if callable(v) and not n.startswith("_")]
            out += [getattr(phase, name) for name in names]
        return out

    async def close(self) -> None:
        await self.deps.db.dispose()

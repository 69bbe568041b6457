"""The purge activity: expired artifacts (blobs, then rows), expired locks, and worktrees
whose execution has ended or no longer exists (left behind by a crash)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from temporalio import activity

from activities.phases.context import PhaseDeps
from activities.runtime import run_blocking
from domain.enums import TERMINAL_FEATURE_STATES
from persistence.artifacts import ArtifactService
from persistence.locks import Locks
from persistence.tables import FeatureExecutionRow
from workflows.maintenance import PURGE_ACTIVITY, PurgeReport


class Maintenance:
    """Housekeeping activities of one worker."""

    def __init__(self, deps: PhaseDeps) -> None:
        self.deps = deps

    @activity.defn(name=PURGE_ACTIVITY)
    async def purge_expired(self) -> PurgeReport:
        async with self.deps.sessions() as session:
            artifacts = await ArtifactService(session, self.deps.store).purge_expired(
                datetime.now(UTC)
            )
            await session.commit()
        locks = await Locks(self.deps.sessions).purge_expired()
        worktrees = await self.purge_orphaned_worktrees()
        return PurgeReport(artifacts=artifacts, locks=locks, worktrees=worktrees)

    async def purge_orphaned_worktrees(self) -> int:
        """Remove this worker's worktrees of executions that ended or do not exist."""
        root = self.deps.git.config.workspace_root
        if not root.is_dir():
            return 0
        keys: dict[uuid.UUID, str] = {}
        for entry in root.iterdir():
            if entry.name.startswith("."):
                continue  # warm checkouts and the trash are the engine's own
            try:
                keys[uuid.UUID(entry.name)] = entry.name
            except ValueError:
                continue
        if not keys:
            return 0
        async with self.deps.sessions() as session:
            live = set(
                (
                    await session.scalars(
                        select(FeatureExecutionRow.id).where(
                            FeatureExecutionRow.id.in_(keys),
                            FeatureExecutionRow.deleted_at.is_(None),
                            FeatureExecutionRow.state.not_in(
                                [int(s) for s in TERMINAL_FEATURE_STATES]
                            ),
                        )
                    )
                ).all()
            )
        doomed = [name for eid, name in keys.items() if eid not in live]
        git = self.deps.git

        def remove(cancel: object, progress: object) -> None:
            for name in doomed:
                git.remove_workspace(name)

        await run_blocking(remove, what="removing orphaned worktrees")
        return len(doomed)

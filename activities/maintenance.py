"""The purge activity: expired artifacts (blobs, then rows), expired locks, worktrees whose
execution has ended or no longer exists (left behind by a crash), and cached environments
no execution used for a week."""

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

# an environment unused this long goes (the next setup builds it again); a staging dir this
# old belongs to a setup that can no longer be running (the longest phase limit is 6 h)
ENVIRONMENT_UNUSED_S = 7 * 24 * 3600.0
STAGING_STALE_S = 12 * 3600.0


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
        await self.purge_unused_environments()
        return PurgeReport(artifacts=artifacts, locks=locks, worktrees=worktrees)

    async def purge_unused_environments(self) -> int:
        """Cached environments no execution used for a week, setups a crash left behind."""
        settings = self.deps.environments
        if settings is None:
            return 0
        store = settings.store
        return await run_blocking(
            lambda cancel, progress: store.purge(ENVIRONMENT_UNUSED_S, STAGING_STALE_S),
            what="removing unused environments",
        )

    async def purge_orphaned_worktrees(self) -> int:
        """Remove this worker's worktrees of executions that ended or do not exist, and
        empty the trash of discarded ones (normally the reaper's job; a crash leaves some)."""
        git = self.deps.git
        root = git.config.workspace_root
        if not root.is_dir():
            return 0
        await run_blocking(lambda cancel, progress: git.empty_trash(), what="emptying the trash")
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

        def remove(cancel: object, progress: object) -> None:
            for name in doomed:
                git.remove_workspace(name)
            git.empty_trash()  # delete them now, not in the reaper

        await run_blocking(remove, what="removing orphaned worktrees")
        return len(doomed)

"""The purge empties the worktree trash a crash left behind; the warm bound is a setting."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from activities.maintenance import Maintenance
from activities.pipeline import FeaturePipeline


async def test_the_purge_deletes_orphaned_worktrees_and_empties_the_trash(
    pipeline: FeaturePipeline,
) -> None:
    root = pipeline.deps.git.config.workspace_root
    leftover = root / ".trash" / "exec-1-0123abcd" / "build"
    leftover.mkdir(parents=True)
    (leftover / "out.o").write_text("x")
    leftover.chmod(0o000)  # what a run may leave behind
    orphan = root / str(uuid.uuid4())  # no such execution
    (orphan / "src").mkdir(parents=True)

    removed = await Maintenance(pipeline.deps).purge_orphaned_worktrees()

    assert removed == 1
    assert not orphan.exists()
    assert not any((root / ".trash").iterdir())


async def test_the_warm_worktree_bound_comes_from_the_settings(
    pipeline_factory: Callable[..., FeaturePipeline],
) -> None:
    made = pipeline_factory(warm_worktrees_per_repository=3)
    try:
        assert made.deps.git.config.warm_workspaces_per_repository == 3
    finally:
        await made.close()

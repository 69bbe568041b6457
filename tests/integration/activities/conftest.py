"""The pipeline's activities alone: real Postgres, a local bare remote, the real sandbox,
each activity run through Temporal's ActivityEnvironment (no server, no workflow)."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.pipeline import FeaturePipeline
from builder.deps import build_deps
from builder.settings import Settings
from domain.contracts import ExecutionRef, PhaseRequest, StepRequest
from tests.fixtures.executions import Harness

PHASE_REQUESTS = {"analyze", "plan"}
VAULT_KEY = "k1:" + base64.b64encode(os.urandom(32)).decode()


def pipeline_settings(database_url: str, state: Path, **extra: Any) -> Settings:
    return Settings(
        environment="test",
        state_dir=state,
        database_url=database_url,
        allow_local_remotes=True,
        vault_keys=VAULT_KEY,
        **extra,
    )


@dataclass
class Run:
    """One execution driven activity by activity."""

    pipeline: FeaturePipeline
    ref: ExecutionRef
    env: ActivityEnvironment

    def activity(self, name: str) -> Callable[..., Any]:
        (found,) = [f for f in self.pipeline.activities() if f.__name__ == name]
        return found

    async def __call__(self, name: str, arg: Any = None) -> Any:
        if arg is None:  # what the workflow sends: phases take a PhaseRequest
            arg = PhaseRequest.of(self.ref, None) if name in PHASE_REQUESTS else self.ref
        return await self.env.run(self.activity(name), arg)

    async def prepare(self) -> None:
        """open_workspace, analyze and plan, as the workflow starts a run."""
        for name in ("open_workspace", "analyze", "plan"):
            await self(name)

    def step(self, index: int) -> StepRequest:
        return StepRequest(ref=self.ref, step_index=index, commit_timestamp=1_700_000_000 + index)

    def worktree(self) -> Path:
        return self.pipeline.deps.git.workspace_path(self.ref.execution_id)


@pytest.fixture
def pipeline_factory(database_url: str, tmp_path: Path) -> Callable[..., FeaturePipeline]:
    def make(**extra: Any) -> FeaturePipeline:
        settings = pipeline_settings(database_url, tmp_path / "state", **extra)
        return FeaturePipeline(build_deps(settings, f"test@{uuid.uuid4().hex[:6]}"))

    return make


@pytest.fixture
async def pipeline(
    pipeline_factory: Callable[..., FeaturePipeline],
) -> AsyncIterator[FeaturePipeline]:
    made = pipeline_factory()
    yield made
    await made.close()


@pytest.fixture
def harness(sessions: Any) -> Harness:
    return Harness(sessions, None, "unused")  # type: ignore[arg-type]


NOTES_STEP = [{"op": "write_file", "path": "NOTES.md", "content": "notes\n"}]


async def applied(
    harness: Harness,
    pipeline: FeaturePipeline,
    tenant: uuid.UUID,
    repo: Any,
    changes: list[dict[str, Any]] = NOTES_STEP,
) -> tuple[Run, Any]:
    """A new execution of `repo` opened, analysed, planned, and its first step applied: where
    the verify activity's tests start."""
    row = await harness.execution(tenant, repo, changes)
    run = Run(pipeline, ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant)),
              ActivityEnvironment())  # fmt: skip
    await run.prepare()
    await run("apply_step", run.step(0))
    return run, row


def files_of(worktree: Path, sha: str) -> set[str]:
    out = subprocess.run(
        ["git", "-C", str(worktree), "show", "--name-only", "--format=", sha],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return set(out.split())

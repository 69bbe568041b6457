"""Apply, repair and push as activities alone: what a retried or reordered call must not do."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.testing import ActivityEnvironment

from activities.pipeline import FeaturePipeline
from domain.contracts import ExecutionRef, PushRequest, RepairRequest, VerifyRequest
from domain.enums import ErrorCode
from domain.values import ExecutionPlan, PlanStep
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.integration.activities.conftest import Run, files_of
from tests.integration.codegen.model_server import ScriptedModelServer

BUILD_LEAVES_OUTPUT = (
    "mkdir -p out __pycache__ && echo built > out/artifact.txt && echo x > __pycache__/m.pyc"
)


def writes(*paths: str) -> list[dict[str, Any]]:
    return [{"op": "write_file", "path": p, "content": f"{p}\n"} for p in paths]


async def new_run(
    harness: Harness,
    pipeline: FeaturePipeline,
    remote: Path,
    changes: list[dict[str, Any]],
    properties: dict[str, Any] | None = None,
    **options: Any,
) -> Run:
    tenant = uuid.uuid4()
    repo = await harness.repository(tenant, str(remote), properties or {})
    row = await harness.execution(tenant, repo, changes, **options)
    ref = ExecutionRef(execution_id=str(row.id), tenant_id=str(tenant))
    return Run(pipeline, ref, ActivityEnvironment())


async def test_a_commit_after_a_build_contains_only_its_own_edits(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path]
) -> None:
    run = await new_run(
        harness, pipeline, bare_remote(files=3), writes("a.txt", "b.txt"),
        {"build_command": BUILD_LEAVES_OUTPUT},
    )  # fmt: skip
    await run.prepare()
    await run("apply_step", run.step(0))
    await run("verify", VerifyRequest(ref=run.ref, phase="build"))
    assert (run.worktree() / "out" / "artifact.txt").exists()  # the build really left output

    second = await run("apply_step", run.step(1))

    assert files_of(run.worktree(), second.commit_sha) == {"b.txt"}


async def test_a_retried_apply_makes_no_second_commit(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path]
) -> None:
    run = await new_run(harness, pipeline, bare_remote(files=3), writes("a.txt"))
    await run.prepare()
    first = await run("apply_step", run.step(0))
    again = await run("apply_step", run.step(0))
    assert again.commit_sha == first.commit_sha and again.reused


async def test_apply_writes_its_rows_and_events_in_a_fixed_number_of_statements(
    harness: Harness,
    pipeline: FeaturePipeline,
    bare_remote: Callable[..., Path],
    db_engine: AsyncEngine,
) -> None:
    # the pipeline has its own engine; count on it
    engine = pipeline.deps.db.sync_engine
    executed = [0]
    per_apply: list[int] = []

    def count(*_: Any) -> None:
        executed[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        for files in (1, 12):
            # one step whose edits touch `files` files
            change = {
                "op": "regex_replace",
                "glob": "src/**/*.txt",
                "pattern": "line 0",
                "replacement": "LINE 0",
            }
            run = await new_run(harness, pipeline, bare_remote(files=files), [change])
            await run.prepare()
            before = executed[0]
            applied = await run("apply_step", run.step(0))
            per_apply.append(executed[0] - before)
            assert applied.files_changed == files
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert per_apply[0] == per_apply[1] > 0, per_apply


async def test_pygit2_never_runs_on_the_event_loop_thread(
    harness: Harness,
    pipeline: FeaturePipeline,
    bare_remote: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_thread = threading.get_ident()
    on_loop: list[str] = []
    real = pygit2.Repository

    class Watched(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if threading.get_ident() == loop_thread:
                on_loop.append(str(args[0]) if args else "?")
            super().__init__(*args, **kwargs)

    run = await new_run(
        harness, pipeline, bare_remote(files=3), writes("a.txt", "b.txt"),
        {"build_command": BUILD_LEAVES_OUTPUT, "test_command": "true"},
    )  # fmt: skip
    monkeypatch.setattr(pygit2, "Repository", Watched)
    await run.prepare()
    for index in (0, 1):
        await run("apply_step", run.step(index))
    for phase in ("build", "test"):
        await run("verify", VerifyRequest(ref=run.ref, phase=phase))
    assert on_loop == []


async def test_a_retried_push_pushes_nothing_twice(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path]
) -> None:
    remote = bare_remote(files=3)
    run = await new_run(harness, pipeline, remote, writes("a.txt"))
    await run.prepare()
    applied = await run("apply_step", run.step(0))
    owner = "owner-1"
    lock = await run("acquire_lock", _lock(run, owner))
    request = PushRequest(
        ref=run.ref, owner_id=owner, fencing_token=lock.fencing_token,
        verified_commit=applied.commit_sha,
    )  # fmt: skip
    first = await run("push", request)
    again = await run("push", request)
    assert first.result.commit_sha == again.result.commit_sha == applied.commit_sha
    assert again.already_up_to_date
    branch = first.result.branch_name
    heads = subprocess.run(
        ["git", "--git-dir", str(remote), "rev-parse", f"refs/heads/{branch}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert heads == applied.commit_sha


async def test_push_refuses_a_commit_other_than_the_one_the_tests_passed_on(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path]
) -> None:
    run = await new_run(harness, pipeline, bare_remote(files=3), writes("a.txt"))
    await run.prepare()
    await run("apply_step", run.step(0))
    lock = await run("acquire_lock", _lock(run, "o"))
    with pytest.raises(Exception, match="not pushing a commit that was not verified"):
        await run(
            "push",
            PushRequest(
                ref=run.ref, owner_id="o", fencing_token=lock.fencing_token,
                verified_commit="0" * 40,
            ),
        )  # fmt: skip


def _lock(run: Run, owner: str) -> Any:
    from domain.contracts import LockRequest

    return LockRequest(ref=run.ref, owner_id=owner)


@pytest.fixture
def model_server() -> Any:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.stop()


async def test_a_retried_repair_makes_no_second_step_and_no_second_model_call(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    bare_remote: Callable[..., Path],
    model_server: ScriptedModelServer,
    sessions: Any,
) -> None:
    pipeline = pipeline_factory(
        llm_provider="openai", llm_model="scripted-1",
        llm_base_url=model_server.openai_base_url, llm_api_key="sk-scripted-0000",
    )  # fmt: skip
    try:
        run = await new_run(harness, pipeline, bare_remote(files=3), [], engine="llm")
        async with UnitOfWork(sessions) as uow:  # the stored plan: no model call to plan
            plan = ExecutionPlan(
                steps=[PlanStep(index=0, description="edit", type="modify_file")]  # type: ignore[arg-type]
            )
            await uow.executions.update(run.ref.tenant_id, run.ref.execution_id, plan=plan)
            await uow.steps.upsert_plan(run.ref.tenant_id, run.ref.execution_id, plan)
            await uow.commit()
        await run("open_workspace")
        model_server.say(
            "src/pkg0/file_0.txt\n```text\n<<<<<<< SEARCH\nline 0 of file 0\n"
            "=======\nfixed\n>>>>>>> REPLACE\n```\n"
        )
        request = RepairRequest(
            ref=run.ref, failure_code=ErrorCode.TEST_FAILED, failure_message="1 failed",
            step_index=1, failed_phase="test",
        )  # fmt: skip
        first = await run("add_repair_step", request)
        again = await run("add_repair_step", request)
        async with UnitOfWork(sessions) as uow:
            steps = await uow.steps.get_by_feature_id(run.ref.tenant_id, run.ref.execution_id)
    finally:
        await pipeline.close()
    assert first.step_index == again.step_index == 1
    assert len(model_server.requests) == 1
    assert [s.step_index for s in steps] == [0, 1]
    assert steps[1].generated_edits


async def test_the_repair_reads_the_log_of_the_phase_that_failed_in_this_round(
    harness: Harness,
    pipeline_factory: Callable[..., FeaturePipeline],
    bare_remote: Callable[..., Path],
    model_server: ScriptedModelServer,
) -> None:
    pipeline = pipeline_factory(
        llm_provider="openai", llm_model="scripted-1",
        llm_base_url=model_server.openai_base_url, llm_api_key="sk-scripted-0000",
    )  # fmt: skip
    try:
        run = await new_run(
            harness, pipeline, bare_remote(files=3), [], engine="llm",
        )  # fmt: skip
        await run("open_workspace")
        # an earlier round's test log, then this round's failed build log
        async with run.pipeline.phases[0].unit() as uow:
            from domain.enums import ArtifactType

            ctx = await run.pipeline.phases[0].context(run.ref)
            for name, text in (
                ("test.log", "OLD ROUND test output"),
                ("build.log", "NEW build error"),
            ):
                await run.pipeline.phases[0].put_artifact(
                    uow, ctx, name, ArtifactType.BUILD_LOG, "text/plain", text.encode()
                )
            await uow.commit()
        model_server.say("src/pkg0/file_0.txt\n```text\nwhole new content\n```\n")
        await run(
            "add_repair_step",
            RepairRequest(
                ref=run.ref, failure_code=ErrorCode.BUILD_FAILED, failure_message="exit 2",
                step_index=0, failed_phase="build",
            ),
        )  # fmt: skip
    finally:
        await pipeline.close()
    prompt = str(model_server.requests[0]["body"])
    assert "NEW build error" in prompt and "OLD ROUND" not in prompt

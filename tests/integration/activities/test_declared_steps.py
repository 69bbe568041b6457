"""apply_steps alone: the spec engine's declared steps in one activity give each step what
apply_step gives it (commit, rows, events), resume after the completed ones and name the
step they stop at."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest
from temporalio.exceptions import ApplicationError

from activities.phases import steps as steps_module
from activities.pipeline import FeaturePipeline
from domain.contracts import StepsRequest
from domain.enums import ErrorCode, StepState
from persistence.uow import UnitOfWork
from tests.fixtures.executions import Harness
from tests.integration.activities.conftest import Run, files_of
from tests.integration.activities.test_steps_and_repairs import new_run, writes
from workflows import policies
from workflows.failures import error_of

STAMP = 1_700_000_000  # Run.step(i) commits at STAMP + i


def batch(run: Run, *indices: int) -> StepsRequest:
    return StepsRequest(ref=run.ref, step_indices=list(indices), base_timestamp=STAMP)


@pytest.fixture
async def two_steps(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path]
) -> Run:
    """A prepared run whose plan writes a.txt, then b.txt."""
    run = await new_run(harness, pipeline, bare_remote(files=3), writes("a.txt", "b.txt"))
    await run.prepare()
    return run


def on_the_second_call(
    monkeypatch: pytest.MonkeyPatch, target: object, name: str, first: Callable[[], None]
) -> Callable[[], None]:
    """Make the second call of `target.name` run `first` before the real call (which it
    may pre-empt by raising); returns what puts the real one back."""
    real = getattr(target, name)
    calls: list[int] = []

    def patched(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            first()
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, patched)
    return lambda: monkeypatch.setattr(target, name, real)


async def step_events(sessions: Any, run: Run) -> list[tuple[str, Any]]:
    """(event type, step index) of the execution's step and file events, in order."""
    async with UnitOfWork(sessions) as uow:
        events = await uow.events.read_after(uuid.UUID(run.ref.execution_id), 0, 1000)
    return [
        (e.event_type, e.payload.get("step_index"))
        for e in events
        if e.event_type.startswith(("step.", "file."))
    ]


async def steps_of(sessions: Any, run: Run) -> list[Any]:
    async with UnitOfWork(sessions) as uow:
        return list(await uow.steps.get_by_feature_id(run.ref.tenant_id, run.ref.execution_id))


async def test_one_call_gives_each_step_what_one_call_per_step_gives_it(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path], sessions: Any
) -> None:
    changes = writes("a.txt", "b.txt", "c.txt")
    together = await new_run(harness, pipeline, bare_remote(files=3), changes)
    one_each = await new_run(harness, pipeline, bare_remote(files=3), changes)
    for run in (together, one_each):
        await run.prepare()

    result = await together("apply_steps", batch(together, 0, 1, 2))
    singles = [await one_each("apply_step", one_each.step(i)) for i in range(3)]

    assert [s.step_index for s in result.steps] == [0, 1, 2]
    assert [s.files_changed for s in result.steps] == [s.files_changed for s in singles] == [1] * 3
    repo = pygit2.Repository(str(together.worktree()))
    for n, step in enumerate(result.steps):
        commit = repo[step.commit_sha]
        assert files_of(together.worktree(), step.commit_sha) == {changes[n]["path"]}
        assert commit.commit_time == STAMP + n  # as apply_step would date it
        if n:  # each step on the one before it
            assert commit.parents[0].id == pygit2.Oid(hex=result.steps[n - 1].commit_sha)
    assert await step_events(sessions, together) == await step_events(sessions, one_each)
    rows = await steps_of(sessions, together)
    assert [(r.state, r.commit_sha) for r in rows] == [
        (StepState.COMPLETED.value, s.commit_sha) for s in result.steps
    ]


async def test_a_retried_call_goes_on_after_the_steps_it_completed(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path], sessions: Any
) -> None:
    run = await new_run(harness, pipeline, bare_remote(files=3), writes("a.txt", "b.txt"))
    await run.prepare()
    first = await run("apply_steps", batch(run, 0))  # as if the batch died after step 0

    again = await run("apply_steps", batch(run, 0, 1))

    assert again.steps[0].reused and again.steps[0].commit_sha == first.steps[0].commit_sha
    assert not again.steps[1].reused
    assert [e for e in await step_events(sessions, run) if e[0] == "step.completed"] == [
        ("step.completed", 0),
        ("step.completed", 1),
    ]


async def test_a_failing_step_is_named_and_the_steps_before_it_stay_committed(
    harness: Harness, pipeline: FeaturePipeline, bare_remote: Callable[..., Path], sessions: Any
) -> None:
    gone = {"op": "delete_file", "path": "not/there.txt"}  # fails when applied, not planned
    changes = [*writes("a.txt"), gone, *writes("c.txt")]
    run = await new_run(harness, pipeline, bare_remote(files=3), changes)
    await run.prepare()

    with pytest.raises(ApplicationError) as failure:
        await run("apply_steps", batch(run, 0, 1, 2))

    assert failure.value.non_retryable
    assert failure.value.details[0]["step_index"] == 1
    rows = await steps_of(sessions, run)
    assert [r.state for r in rows] == [
        StepState.COMPLETED.value,
        StepState.FAILED.value,
        StepState.PENDING.value,
    ]
    assert files_of(run.worktree(), rows[0].commit_sha) == {"a.txt"}


async def test_an_unexpected_failure_is_retryable_and_still_names_its_step(
    two_steps: Run, pipeline: FeaturePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = two_steps

    def disk_full() -> None:
        raise OSError(28, "No space left on device")

    on_the_second_call(monkeypatch, pipeline.deps.git, "commit", disk_full)
    with pytest.raises(ApplicationError) as failure:
        await run("apply_steps", batch(run, 0, 1))

    assert not failure.value.non_retryable  # as the SDK would make an OSError
    assert failure.value.type == "OSError"
    assert failure.value.details[0] == {"step_index": 1}
    assert "No space left on device" in failure.value.message
    again = await run("apply_steps", batch(run, 0, 1))  # the retry goes on after step 0
    assert again.steps[0].reused and not again.steps[1].reused


async def test_a_hung_step_fails_the_batch_at_its_own_limit_and_the_retry_goes_on(
    two_steps: Run, pipeline: FeaturePipeline, sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = two_steps
    restore = on_the_second_call(
        monkeypatch, pipeline.deps.git, "apply_edits", lambda: time.sleep(1.5)
    )  # longer than the step's limit below
    request = batch(run, 0, 1).model_copy(update={"step_timeout_s": 0.5})
    started = time.monotonic()
    with pytest.raises(ApplicationError) as failure:
        await run("apply_steps", request)

    assert time.monotonic() - started < 10  # it waited for the step, not beyond
    assert failure.value.type == ErrorCode.TIMEOUT.value  # the run's error once retries end
    assert error_of(failure.value, 1).code == ErrorCode.TIMEOUT
    assert not failure.value.non_retryable
    assert ErrorCode.TIMEOUT.value not in (policies.BATCH_RETRY.non_retryable_error_types or [])
    assert failure.value.details[0] == {"step_index": 1}
    assert "step 1 did not finish within 0.5 s" in failure.value.message
    rows = await steps_of(sessions, run)
    assert rows[0].state == StepState.COMPLETED.value
    assert rows[1].state != StepState.COMPLETED.value
    restore()
    again = await run("apply_steps", batch(run, 0, 1))  # the retry goes on after step 0
    assert again.steps[0].reused and not again.steps[1].reused
    assert files_of(run.worktree(), again.steps[1].commit_sha) == {"b.txt"}


@pytest.mark.parametrize("beat_after_s", [3600.0, 0.0])
async def test_a_batch_names_its_applied_steps_in_heartbeats_only_once_it_has_run_a_while(
    harness: Harness,
    pipeline: FeaturePipeline,
    bare_remote: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    beat_after_s: float,
) -> None:
    run = await new_run(harness, pipeline, bare_remote(files=3), writes("a.txt", "b.txt", "c.txt"))
    await run.prepare()
    beats: list[Any] = []
    run.env.on_heartbeat = lambda *details: beats.extend(details)
    # a quick batch, or one past the limit already: then every step but the last says so
    monkeypatch.setattr(steps_module, "BEAT_AFTER_S", beat_after_s)

    result = await run("apply_steps", batch(run, 0, 1, 2))

    assert [s.step_index for s in result.steps] == [0, 1, 2]
    named = [b for b in beats if isinstance(b, dict)]  # a step's own progress is a string
    if beat_after_s:  # a quick batch calls the server once, with its result
        assert named == []
    else:  # the last step is said by the result, not by one more call
        assert named == [{"applied_step": 0}, {"applied_step": 1}]

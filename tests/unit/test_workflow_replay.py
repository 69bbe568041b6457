"""Recorded histories of a completed, a failed and a cancelled run replay without
non-determinism against today's workflow code (re-record with BUILDER_RECORD_HISTORIES=1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.feature_execution import FeatureExecutionWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_every_kind_of_ending_has_a_recorded_history() -> None:
    assert {p.stem for p in HISTORIES} >= {"completed", "failed", "cancelled"}


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_deterministically(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[FeatureExecutionWorkflow], data_converter=pydantic_data_converter
    )
    await replayer.replay_workflow(history)

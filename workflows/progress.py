"""What operators see of a run in the Temporal UI: its progress as current details."""

from __future__ import annotations

from temporalio import workflow

from domain.enums import FeatureState
from domain.values import ExecutionProgress


def show_details(state: FeatureState, progress: ExecutionProgress, note: str | None = None) -> None:
    """Markdown current details: the state, step counts, the current step, a note."""
    lines = [f"**{state.label}**"]
    if progress.total_steps:
        lines.append(
            f"step {progress.completed_steps}/{progress.total_steps} "
            f"({progress.percent_complete:.0f}%)"
        )
        if progress.current_step_description:
            lines.append(f"current: {progress.current_step_description}")
    if note:
        lines.append(note)
    workflow.set_current_details("  \n".join(lines))

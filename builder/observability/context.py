"""Ids that every log line written while handling one execution should carry.

The API binds the execution id when it handles a request; activities bind it from their
input. Temporal's own workflow/activity ids are read from the SDK where available, so
nothing has to bind those by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

LOG_CONTEXT_KEYS = ("execution_id", "workflow_id", "run_id", "activity", "tenant_id")

_context: ContextVar[dict[str, str] | None] = ContextVar("builder_log_context", default=None)


def current_log_context() -> dict[str, str]:
    """The ids bound in this context (a copy; mutate it freely)."""
    return dict(_context.get() or {})


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Bind ids (execution_id, workflow_id, ...) to every log record inside the block.

    None values are skipped so callers can pass optional ids straight through.
    """
    merged = current_log_context()
    merged.update({key: str(value) for key, value in ids.items() if value is not None})
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def temporal_log_context() -> dict[str, str]:
    """workflow_id, run_id and activity of the Temporal activity or workflow running here."""
    # Imported lazily: this module is also used by the API, which has no Temporal context.
    from temporalio import activity, workflow

    if activity.in_activity():
        info = activity.info()
        ids = {"activity": info.activity_type, "activity_id": info.activity_id}
        if info.workflow_id:
            ids["workflow_id"] = info.workflow_id
        if info.workflow_run_id:
            ids["run_id"] = info.workflow_run_id
        return ids
    if workflow.in_workflow():
        winfo = workflow.info()
        return {"workflow_id": winfo.workflow_id, "run_id": winfo.run_id}
    return {}

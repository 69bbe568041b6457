"""Structured logs: one JSON object per line, with execution ids, and nothing secret.

`configure_logging` installs a single root handler that every builder process (API, worker,
migrate, dev stack) shares. Its `RedactionFilter` rewrites each record before any
formatter sees it, so even a plain-text handler added later by someone else gets
redacted messages and tracebacks.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import IO, Any

from builder.observability.context import current_log_context, temporal_log_context
from domain.redaction import (
    REDACTED,
    is_sensitive_key,
    redact,
    redact_value,
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
# Temporal's loggers attach these dicts; their ids are lifted into top-level fields.
_TEMPORAL_EXTRAS = ("temporal_activity", "temporal_workflow")
_HANDLER_NAME = "builder-root"


class RedactionFilter(logging.Filter):
    """Rewrites message, traceback and extras of every record with secrets removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_builder_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                sensitive = is_sensitive_key(key) and value is not None
                setattr(record, key, REDACTED if sensitive else redact_value(value))
        record._builder_redacted = True
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_temporal_ids(record))
        entry.update(current_log_context())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in _TEMPORAL_EXTRAS and key[0] != "_":
                entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # Redact again at the end: a context value or extra may hold a secret too.
        return json.dumps(redact_value(entry), default=str, ensure_ascii=False)


def _temporal_ids(record: logging.LogRecord) -> dict[str, str]:
    try:
        ids = temporal_log_context()
    except Exception:  # the SDK's context lookups must never break logging
        ids = {}
    activity_extra = getattr(record, "temporal_activity", None)
    if isinstance(activity_extra, dict):
        ids.setdefault("workflow_id", str(activity_extra.get("workflow_id", "")))
        ids.setdefault("activity", str(activity_extra.get("activity_type", "")))
    workflow_extra = getattr(record, "temporal_workflow", None)
    if isinstance(workflow_extra, dict):
        ids.setdefault("workflow_id", str(workflow_extra.get("workflow_id", "")))
        ids.setdefault("run_id", str(workflow_extra.get("run_id", "")))
    return {key: value for key, value in ids.items() if value}


def configure_logging(
    level: int | str = "INFO", json: bool = True, stream: IO[str] | None = None
) -> logging.Handler:
    """Route every logger through one redacting handler on the root logger.

    Calling it again replaces the handler it installed before (not others'). Uvicorn's
    loggers are pointed at the root so access logs are JSON and redacted too; run uvicorn
    with `log_config=None` so it does not install its own handlers afterwards.
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(
        JsonFormatter()
        if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    return handler

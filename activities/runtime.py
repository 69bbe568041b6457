"""How activities run engine code: blocking work in threads with heartbeats and prompt
cancellation, and domain errors mapped to Temporal ApplicationErrors.

Everything that leaves an activity for Temporal (heartbeat details, failure messages and
details) may carry untrusted text (a repository's output, test names, a model's words), so
it is redacted like a log line and bounded in size here, in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.cancellation import OperationCancelled
from domain.errors import DomainError
from domain.redaction import redact, redact_value

# Bounds of what an activity hands to Temporal (histories are kept and shown in the UI).
HEARTBEAT_CHARS = 200
MESSAGE_CHARS = 2_000
DETAILS_BYTES = 4_096
DETAIL_STRING_CHARS = 500
DETAIL_LIST_ITEMS = 20

T = TypeVar("T")
P = ParamSpec("P")

# Engines block (pygit2, subprocesses, model SDKs); a dedicated pool keeps them off the
# event loop without starving the default executor.
_POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="builder-engine")

Progress = Callable[[str], None]


async def run_blocking(
    fn: Callable[[threading.Event, Progress], T], *, what: str, heartbeat_every: float = 1.0
) -> T:
    """Run `fn(cancel, progress)` in a thread, heartbeating its latest progress; when the
    activity is cancelled, set `cancel` and wait briefly for the engine to stop."""
    cancel = threading.Event()
    latest = [what]

    def progress(message: str) -> None:
        latest[0] = message

    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_POOL, fn, cancel, progress)
    try:
        while True:
            done, _ = await asyncio.wait({future}, timeout=heartbeat_every)
            if done:
                return future.result()
            if activity.in_activity():
                activity.heartbeat(bounded(latest[0], HEARTBEAT_CHARS))
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(future), timeout=10)
        raise


def application_error(err: DomainError) -> ApplicationError:
    """The Temporal form of a known failure: its ErrorCode as type, retryable as told, the
    server's delay (Retry-After) as the next retry's delay, message and details bounded."""
    delay = err.retry_after_seconds
    return ApplicationError(
        bounded(err.message, MESSAGE_CHARS),
        failure_details(err.details) if err.details else {},
        type=err.code.value,
        non_retryable=not err.retryable,
        next_retry_delay=timedelta(seconds=delay) if delay and err.retryable else None,
    )


def bounded(text: str, limit: int) -> str:
    """`text` redacted and cut to `limit` characters (a marker says it was cut)."""
    clean = redact(text)
    return clean if len(clean) <= limit else clean[: limit - 12] + " [truncated]"


def failure_details(details: dict[str, Any]) -> dict[str, Any]:
    """Details as they may enter a history: JSON, redacted, strings and lists cut, and
    whole entries dropped (largest first) until the lot fits DETAILS_BYTES."""
    shaped: dict[str, Any] = _shape(redact_value(jsonable(details)))
    dropped: list[str] = []
    while shaped and len(json.dumps(shaped, default=str)) > DETAILS_BYTES:
        largest = max(shaped, key=lambda k: len(json.dumps(shaped[k], default=str)))
        dropped.append(largest)
        del shaped[largest]
    if dropped:
        shaped["omitted"] = sorted(dropped)
    return shaped


def _shape(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= DETAIL_STRING_CHARS else value[:DETAIL_STRING_CHARS] + "…"
    if isinstance(value, list):
        return [_shape(v) for v in value[:DETAIL_LIST_ITEMS]]
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return value


def maps_domain_errors(
    fn: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Decorator for activities: DomainError -> ApplicationError; cancellation stays."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except OperationCancelled:
            raise asyncio.CancelledError() from None
        except DomainError as err:
            raise application_error(err) from None

    return wrapper


def jsonable(value: Any) -> Any:
    """Details must survive JSON: stringify what does not."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)

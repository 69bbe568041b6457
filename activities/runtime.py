"""How activities run engine code: blocking work in threads with heartbeats and prompt
cancellation, and domain errors mapped to Temporal ApplicationErrors."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.cancellation import OperationCancelled
from domain.errors import DomainError

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
                activity.heartbeat(latest[0])
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(future), timeout=10)
        raise


def application_error(err: DomainError) -> ApplicationError:
    """The Temporal form of a known failure: its ErrorCode as type, retryable as told; a
    remote's Retry-After becomes the delay before Temporal's next attempt."""
    details = jsonable(err.details) if err.details else {}
    delay = err.retry_after_seconds
    return ApplicationError(
        err.message,
        details,
        type=err.code.value,
        non_retryable=not err.retryable,
        next_retry_delay=timedelta(seconds=delay) if err.retryable and delay else None,
    )


def maps_domain_errors(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
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

"""What an activity hands to Temporal is redacted and bounded; a server's Retry-After is
read once, the same way for models and forges."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from email.utils import formatdate

import pytest

from activities.codegen.llm import ModelCallFailed
from activities.retry_after import retry_after_seconds
from activities.runtime import (
    DETAILS_BYTES,
    MESSAGE_CHARS,
    application_error,
    bounded,
    maps_domain_errors,
)
from domain.errors import BuildFailed
from persistence.events import LostRace
from workflows.policies import (
    BATCH_RETRY,
    FORGE_RETRY,
    VERIFY_RETRY,
    WORKTREE_RETRY,
    bookkeeping_retry,
)

TOKEN = "ghp_" + "A" * 36


def test_failure_message_and_details_are_redacted_and_bounded() -> None:
    err = BuildFailed(
        f"build failed: {TOKEN} " + "x" * 10_000,
        details={
            "failing_tests": [f"test_{i} {TOKEN}" for i in range(500)],
            "command": "make",
            "huge": "y" * 50_000,
        },
    )
    failure = application_error(err)
    assert TOKEN not in failure.message and len(failure.message) <= MESSAGE_CHARS
    details = failure.details[0]
    assert TOKEN not in json.dumps(details)
    assert len(json.dumps(details)) <= DETAILS_BYTES + 100
    assert len(details["failing_tests"]) == 20 and details["command"] == "make"
    assert "huge" in details.get("omitted", []) or len(details["huge"]) <= 501


def test_a_heartbeat_is_redacted_and_short() -> None:
    line = f"Authorization: Bearer {TOKEN} " + "z" * 1000
    shown = bounded(line, 200)
    assert TOKEN not in shown and len(shown) <= 200 and shown.endswith("[truncated]")


def test_a_rate_limited_model_call_is_retryable_after_the_server_s_delay() -> None:
    failure = application_error(
        ModelCallFailed("429", details={"status": 429}, retry_after_seconds=7)
    )
    assert not failure.non_retryable
    assert failure.type == "generation_failed"
    assert failure.next_retry_delay is not None and failure.next_retry_delay.total_seconds() == 7


def test_retry_after_in_seconds_milliseconds_dates_and_reset_headers() -> None:
    assert retry_after_seconds({"retry-after": "12"}) == 12
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    later = formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after_seconds({"retry-after": later}) or 0) <= 31
    assert (retry_after_seconds({"x-ratelimit-reset": str(int(time.time()) + 60)}) or 0) >= 55
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


async def test_a_batch_that_keeps_losing_event_races_fails_its_activity_retryably() -> None:
    @maps_domain_errors
    async def appends() -> None:
        raise LostRace("lost same-id races")

    with pytest.raises(LostRace):  # not turned into a non-retryable ApplicationError
        await appends()
    every = [WORKTREE_RETRY, BATCH_RETRY, VERIFY_RETRY, FORGE_RETRY]
    for policy in [*every, bookkeeping_retry(timedelta(minutes=5))]:
        assert "LostRace" not in (policy.non_retryable_error_types or [])
        assert policy.maximum_attempts != 1  # the next attempt finds the ids stored

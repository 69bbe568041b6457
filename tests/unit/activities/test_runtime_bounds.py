"""What an activity hands to Temporal is redacted and bounded; a server's Retry-After is
read once, the same way for models and forges."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

from activities.codegen.llm import ModelCallFailed
from activities.retry_after import retry_after_seconds
from activities.runtime import (
    DETAILS_BYTES,
    MESSAGE_CHARS,
    application_error,
    bounded,
)
from domain.errors import BuildFailed

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

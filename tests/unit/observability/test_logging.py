"""The JSON logger: one object per line, with the ids of the execution being handled."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from builder.observability.context import current_log_context, log_context
from builder.observability.logging import configure_logging


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_on_its_own_line(log_stream: io.StringIO) -> None:
    log = logging.getLogger("builder.test")
    log.info("first")
    log.warning("second\nspans two lines")
    log.error("third %s", "formatted")

    raw = log_stream.getvalue().splitlines()
    assert len(raw) == 3
    records = [json.loads(line) for line in raw]
    assert [r["message"] for r in records] == [
        "first",
        "second\nspans two lines",
        "third formatted",
    ]
    assert [r["level"] for r in records] == ["INFO", "WARNING", "ERROR"]
    assert {r["logger"] for r in records} == {"builder.test"}
    assert all(str(r["ts"]).endswith("+00:00") for r in records)


def test_bound_execution_and_workflow_ids_appear_on_every_record(
    log_stream: io.StringIO,
) -> None:
    log = logging.getLogger("builder.test")
    with log_context(execution_id="exe-123", workflow_id="feature/t1/key-9"):
        log.info("inside")
        with log_context(activity="clone", tenant_id=None):
            log.info("nested")
    log.info("outside")

    inside, nested, outside = lines(log_stream)
    assert inside["execution_id"] == "exe-123"
    assert inside["workflow_id"] == "feature/t1/key-9"
    assert nested["activity"] == "clone"
    assert nested["execution_id"] == "exe-123"
    assert "tenant_id" not in nested
    assert "execution_id" not in outside
    assert current_log_context() == {}


def test_extras_and_exceptions_are_fields_of_the_same_object(log_stream: io.StringIO) -> None:
    log = logging.getLogger("builder.test")
    try:
        raise ValueError("boom at step 3")
    except ValueError:
        log.exception("step failed", extra={"step_index": 3})

    (record,) = lines(log_stream)
    assert record["step_index"] == 3
    assert "ValueError: boom at step 3" in str(record["exception"])
    assert record["message"] == "step failed"


def test_plain_text_mode_is_one_human_line_per_record() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", json=False, stream=stream)
    try:
        logging.getLogger("builder.test").info("hello %s", "there")
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("INFO builder.test: hello there")


def test_configuring_twice_keeps_a_single_builder_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    handler = configure_logging("INFO", stream=second)
    try:
        logging.getLogger("builder.test").info("once")
    finally:
        logging.getLogger().removeHandler(handler)
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1

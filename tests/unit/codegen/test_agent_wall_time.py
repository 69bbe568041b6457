"""The agent's wall-time budget counts the agent's time, not a person's approval wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from activities.codegen.agent.loop import conversation_seconds

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_nothing_stored_has_used_nothing() -> None:
    assert conversation_seconds([], 0, at(5)) == 0.0


def test_without_declaring_turns_it_is_the_time_since_the_first_turn() -> None:
    assert conversation_seconds([(0, at(0)), (0, at(1))], 0, at(3)) == 180.0


def test_while_declaring_the_clock_runs() -> None:
    assert conversation_seconds([(-1, at(0)), (-1, at(2))], -1, at(4)) == 240.0


def test_the_first_task_turn_after_a_long_approval_does_not_count_the_wait() -> None:
    # declared for 2 minutes, approved 5 hours later: the first task turn has used 2 minutes
    assert conversation_seconds([(-1, at(0)), (-1, at(2))], 0, at(302)) == 120.0


def test_later_task_turns_count_declaring_and_task_time_only() -> None:
    turns = [(-1, at(0)), (-1, at(2)), (0, at(302)), (1, at(310))]
    assert conversation_seconds(turns, 1, at(312)) == 120.0 + 600.0

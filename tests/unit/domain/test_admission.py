"""The per-tenant concurrency limit's rules: which limit applies, who is admitted, how an
operator writes a limit."""

from __future__ import annotations

import pytest

from domain.admission import Decision, decide, effective_limit, parse_limit
from domain.enums import TERMINAL_FEATURE_STATES
from persistence.admission import TERMINAL_STATE_VALUES


@pytest.mark.parametrize(
    ("default", "has_override", "override", "expected"),
    [
        (None, False, None, None),  # nothing configured: unlimited
        (0, False, None, None),  # 0 is unlimited too
        (3, False, None, 3),  # the default applies without an override
        (3, True, 1, 1),  # an override wins, lower
        (3, True, 10, 10),  # ... or higher
        (3, True, None, None),  # an override of "none": unlimited despite the default
        (None, True, 2, 2),  # an override where no default is set
    ],
)
def test_the_override_wins_over_the_default_and_zero_or_none_is_unlimited(
    default: int | None, has_override: bool, override: int | None, expected: int | None
) -> None:
    assert effective_limit(default, has_override, override) == expected


def test_unlimited_admits_everyone() -> None:
    assert decide(None, held=1000, ahead=1000) == Decision(admitted=True, position=None)


def test_below_the_limit_with_nobody_ahead_is_admitted() -> None:
    assert decide(2, held=1, ahead=0).admitted


def test_at_the_limit_the_first_waiter_is_at_position_one() -> None:
    assert decide(1, held=1, ahead=0) == Decision(admitted=False, position=1)
    assert decide(2, held=2, ahead=3) == Decision(admitted=False, position=4)


def test_a_free_slot_goes_to_whoever_is_ahead_first() -> None:
    # one slot free, one waiter enqueued earlier: the later one must keep waiting (FIFO)
    assert decide(3, held=2, ahead=1) == Decision(admitted=False, position=2)
    # two free slots: the second in line is admitted alongside the first
    assert decide(3, held=1, ahead=1).admitted


def test_the_rule_never_admits_beyond_the_limit() -> None:
    for limit in range(1, 6):
        for held in range(0, 8):
            for ahead in range(0, 8):
                if decide(limit, held, ahead).admitted:
                    assert held < limit  # admitting makes held + 1 <= limit


def test_negative_counts_are_a_bug_not_a_decision() -> None:
    with pytest.raises(ValueError):
        decide(1, held=-1, ahead=0)


OPERATOR_LIMITS = [
    ("1", 1), ("25", 25), (" 3 ", 3), ("none", None), ("NONE", None), ("unlimited", None),
    ("0", None),
]  # fmt: skip


@pytest.mark.parametrize(("text", "value"), OPERATOR_LIMITS)
def test_an_operator_writes_a_positive_integer_or_none(text: str, value: int | None) -> None:
    assert parse_limit(text) == value


@pytest.mark.parametrize("text", ["-1", "1.5", "ten", "", "100001", "1e3"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_limit(text)


def test_the_statements_know_the_terminal_states() -> None:
    assert set(TERMINAL_STATE_VALUES) == {int(s) for s in TERMINAL_FEATURE_STATES}

"""The feature execution state machine: every allowed and every forbidden transition."""

from __future__ import annotations

import itertools

import pytest

from domain.enums import FeatureState
from domain.errors import InvalidTransition
from domain.states import ALLOWED_TRANSITIONS, can_transition, ensure_transition

F = FeatureState

EXPECTED_MOVES = {
    (F.PENDING, F.ANALYZING),
    (F.ANALYZING, F.PLANNING),
    (F.PLANNING, F.EXECUTING),
    (F.EXECUTING, F.VERIFYING),
    (F.EXECUTING, F.COMPLETED),
    (F.VERIFYING, F.EXECUTING),
    (F.VERIFYING, F.COMPLETED),
} | {
    (s, end)
    for s in (F.PENDING, F.ANALYZING, F.PLANNING, F.EXECUTING, F.VERIFYING)
    for end in (F.FAILED, F.CANCELLED)
}

ALL_PAIRS = [(a, b) for a, b in itertools.product(FeatureState, FeatureState) if a != b]


def test_the_table_allows_exactly_the_expected_moves() -> None:
    allowed = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert allowed == EXPECTED_MOVES


@pytest.mark.parametrize(("current", "target"), sorted(EXPECTED_MOVES))
def test_allowed_move_passes(current: FeatureState, target: FeatureState) -> None:
    assert can_transition(current, target)
    ensure_transition(current, target)


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in EXPECTED_MOVES])
def test_forbidden_move_raises_with_both_state_names(
    current: FeatureState, target: FeatureState
) -> None:
    assert not can_transition(current, target)
    with pytest.raises(InvalidTransition) as refused:
        ensure_transition(current, target)
    assert str(refused.value) == (
        f"cannot move a feature execution from {current.label} to {target.label}"
    )


@pytest.mark.parametrize("terminal", [F.COMPLETED, F.FAILED, F.CANCELLED])
def test_nothing_leaves_a_terminal_state(terminal: FeatureState) -> None:
    assert terminal.is_terminal
    for target in FeatureState:
        if target != terminal:
            with pytest.raises(InvalidTransition, match=f"from {terminal.label} to"):
                ensure_transition(terminal, target)


@pytest.mark.parametrize("state", list(FeatureState))
def test_staying_in_a_state_is_always_allowed(state: FeatureState) -> None:
    ensure_transition(state, state)


def test_labels_round_trip_and_unknown_labels_are_refused() -> None:
    for state in FeatureState:
        assert FeatureState.from_label(state.label) is state
    with pytest.raises(ValueError, match="unknown feature state 'done'"):
        FeatureState.from_label("done")

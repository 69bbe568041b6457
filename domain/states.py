"""The feature execution state machine: which transitions are allowed."""

from __future__ import annotations

from domain.enums import FeatureState
from domain.errors import InvalidTransition

_F = FeatureState
_ENDINGS = {_F.FAILED, _F.CANCELLED}

ALLOWED_TRANSITIONS: dict[FeatureState, frozenset[FeatureState]] = {
    _F.PENDING: frozenset({_F.ANALYZING} | _ENDINGS),
    _F.ANALYZING: frozenset({_F.PLANNING} | _ENDINGS),
    _F.PLANNING: frozenset({_F.EXECUTING} | _ENDINGS),
    _F.EXECUTING: frozenset({_F.VERIFYING, _F.COMPLETED} | _ENDINGS),
    # verifying -> executing: a repair step after a failed build or test
    _F.VERIFYING: frozenset({_F.EXECUTING, _F.COMPLETED} | _ENDINGS),
    _F.COMPLETED: frozenset(),
    _F.FAILED: frozenset(),
    _F.CANCELLED: frozenset(),
    _F.UNSPECIFIED: frozenset(),
}


def can_transition(current: FeatureState, target: FeatureState) -> bool:
    """True when `current -> target` is allowed; staying in a state is always allowed."""
    return current == target or target in ALLOWED_TRANSITIONS[current]


def ensure_transition(current: FeatureState, target: FeatureState) -> None:
    """Raise InvalidTransition when the state machine forbids `current -> target`."""
    if not can_transition(current, target):
        raise InvalidTransition(
            f"cannot move a feature execution from {current.label} to {target.label}"
        )

"""The child environment is built from an allow-list; credentials never pass."""

from __future__ import annotations

import pytest

from activities.sandbox.environment import RUN_MARKER_VAR, build_environment
from domain.errors import PolicyViolation

PARENT = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "BUILDER_VAULT_KEY": "k",
    "AWS_SECRET_ACCESS_KEY": "s",
    "GITHUB_TOKEN": "t",
    "RANDOM_THING": "r",
}


def _build(requested: dict[str, str] | None = None, passthrough=("PATH", "LANG")) -> dict[str, str]:
    return build_environment(
        PARENT, passthrough, {"CI": "true"}, requested, home="/h", tmpdir="/t", marker="m"
    )


def test_only_allow_listed_parent_variables_pass() -> None:
    env = _build()
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "CI": "true",
        "HOME": "/h",
        "TMPDIR": "/t",
        RUN_MARKER_VAR: "m",
    }


def test_secret_variables_are_dropped_even_when_an_operator_allow_lists_them() -> None:
    env = _build(passthrough=("PATH", "BUILDER_VAULT_KEY", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN"))
    assert "BUILDER_VAULT_KEY" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert "GITHUB_TOKEN" not in env


@pytest.mark.parametrize("name", ["BUILDER_DATABASE_URL", "AWS_REGION", "NPM_TOKEN", "DB_PASSWORD"])
def test_requesting_a_secret_looking_variable_is_refused_by_name(name: str) -> None:
    with pytest.raises(PolicyViolation) as caught:
        _build({name: "x"})
    assert name in caught.value.message
    assert "x" not in caught.value.details.values()


def test_requested_variables_cannot_replace_home_or_the_run_marker() -> None:
    env = _build({"HOME": "/root", "NODE_ENV": "test"})
    assert env["HOME"] == "/h"
    assert env["NODE_ENV"] == "test"
    with pytest.raises(PolicyViolation):
        _build({RUN_MARKER_VAR: "other"})

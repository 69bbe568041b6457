"""Feature branch names are readable and always valid git refs."""

from __future__ import annotations

import subprocess

import pytest

from activities.git import feature_branch_name


@pytest.mark.parametrize(
    "title",
    [
        "Add OAuth login",
        "  ..weird//title..lock  ",
        "Ünïcödé café ☕ support",
        "@{-1} ~^: ? * [ \\ ",
        "",
        "x" * 300,
    ],
)
def test_feature_branch_name_passes_git_check_ref_format(title: str) -> None:
    name = feature_branch_name(title, "0192f5e4-7c1a-7b3e-9a6e-3f1f0c2d4b5a")
    assert name.startswith("builder/")
    assert name.endswith("-0192f5e4")
    done = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True)
    assert done.returncode == 0, name
    done = subprocess.run(["git", "check-ref-format", f"refs/heads/{name}"], capture_output=True)
    assert done.returncode == 0, name


def test_feature_branch_name_slugifies_the_title() -> None:
    assert (
        feature_branch_name("Add OAuth login!", "abcdef1234") == "builder/add-oauth-login-abcdef12"
    )

"""Phase rules that need no process: missing commands, and how JUnit output is requested."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.sandbox import BuildPhaseFailed, SandboxRunner, TestPhaseFailed, run_phase
from activities.sandbox.reports.capture import plan_capture


def test_missing_optional_command_is_skipped(tmp_path: Path) -> None:
    result = run_phase("build", None, tmp_path, required=False, timeout_s=5, runner=SandboxRunner())
    assert result.skipped and result.exit_code is None


def test_missing_required_build_command_says_how_to_declare_one(tmp_path: Path) -> None:
    with pytest.raises(BuildPhaseFailed) as caught:
        run_phase("build", "  ", tmp_path, required=True, timeout_s=5, runner=SandboxRunner())
    assert "no build command was found" in caught.value.message
    assert "'build_command'" in caught.value.message
    assert caught.value.result.skipped


def test_missing_required_test_command_fails_as_tests_failed(tmp_path: Path) -> None:
    with pytest.raises(TestPhaseFailed) as caught:
        run_phase("test", None, tmp_path, required=True, timeout_s=5, runner=SandboxRunner())
    assert "'test_command'" in caught.value.message
    assert caught.value.code.value == "test_failed"


@pytest.mark.parametrize(
    "command", ["pytest -q", "python -m pytest tests", "python3.11 -m pytest", ["pytest", "-x"]]
)
def test_direct_pytest_commands_get_a_junitxml_option(command: str | list[str]) -> None:
    capture = plan_capture(command, Path("/r"), None, worktree=Path("/w"))
    actual, env = capture.command, capture.env
    flat = actual if isinstance(actual, str) else " ".join(actual)
    assert flat.endswith("--junitxml=/r/pytest-junit.xml")
    assert "PYTEST_ADDOPTS" not in env


@pytest.mark.parametrize("command", ["make test", "pytest | tee log", "tox -e py311"])
def test_indirect_commands_get_junit_through_the_environment(command: str) -> None:
    capture = plan_capture(command, Path("/r"), {"PYTEST_ADDOPTS": "-q"}, worktree=Path("/w"))
    actual, env = capture.command, capture.env
    assert actual == command
    assert env["PYTEST_ADDOPTS"] == "-q --junitxml=/r/pytest-junit.xml"
    assert env["JEST_JUNIT_OUTPUT_DIR"] == "/r"

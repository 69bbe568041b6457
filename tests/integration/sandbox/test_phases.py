"""Phases run real test runners in the sandbox and turn their reports into one model."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from activities.sandbox import (
    BuildPhaseFailed,
    SandboxRunner,
    TestPhaseFailed,
    TestReport,
    run_phase,
)
from tests.fixtures.services import require_executable

PYTHON_SUITE = textwrap.dedent(
    """
    import pytest

    def test_adds():
        assert 1 + 1 == 2

    def test_subtracts():
        assert 1 - 1 == 2

    @pytest.mark.skip(reason="later")
    def test_later():
        pass
    """
)

NODE_SUITE = textwrap.dedent(
    """
    const test = require('node:test');
    const assert = require('node:assert');
    test('adds', () => assert.strictEqual(1 + 1, 2));
    test('subtracts', () => assert.strictEqual(1 - 1, 2));
    test('later', { skip: 'later' }, () => {});
    """
)


def _shape(report: TestReport | None) -> tuple[int, int, int, int, list[str]]:
    assert report is not None
    names = [f.name for f in report.failures]
    return report.total, report.passed, report.failed, report.skipped, names


def test_pytest_and_node_junit_parse_into_the_same_model(
    runner: SandboxRunner, worktree: Path
) -> None:
    node = require_executable("node", "install Node.js 20+ (apt-get install nodejs)")
    (worktree / "test_math.py").write_text(PYTHON_SUITE)
    (worktree / "math.test.js").write_text(NODE_SUITE)

    with pytest.raises(TestPhaseFailed) as python_run:
        run_phase("test", "python -m pytest -q", worktree, required=True, timeout_s=60,
                  runner=runner)  # fmt: skip
    node_command = (
        f"mkdir -p test-results && {node} --test --test-reporter=junit "
        "--test-reporter-destination=test-results/node-junit.xml math.test.js"
    )
    with pytest.raises(TestPhaseFailed) as node_run:
        run_phase("test", node_command, worktree, required=True, timeout_s=60, runner=runner)

    python_report = python_run.value.result.test_report
    node_report = node_run.value.result.test_report
    assert _shape(python_report) == (3, 1, 1, 1, ["test_subtracts"])
    assert _shape(node_report) == (3, 1, 1, 1, ["subtracts"])
    assert python_run.value.details["failing_tests"] == ["test_math::test_subtracts"]
    assert "1 of 3 tests failed (test_math::test_subtracts)" in python_run.value.message
    assert node_run.value.details["failing_tests"] == ["test::subtracts"]
    assert "strictly equal" in node_report.failures[0].message  # type: ignore[union-attr]
    assert "1 failed" in python_run.value.result.log
    # The pytest report went to a private reports dir, not into the repository.
    assert not list(worktree.glob("*.xml"))


def test_jest_junit_style_reporter_is_pointed_at_the_reports_dir(
    runner: SandboxRunner, worktree: Path
) -> None:
    node = require_executable("node", "install Node.js 20+ (apt-get install nodejs)")
    fixture = Path(__file__).parents[2] / "unit" / "sandbox" / "data" / "jest-junit.xml"
    (worktree / "report.xml").write_bytes(fixture.read_bytes())
    # What jest-junit does: write junit.xml into $JEST_JUNIT_OUTPUT_DIR.
    script = (
        "const fs = require('fs'); const dir = process.env.JEST_JUNIT_OUTPUT_DIR;"
        "fs.copyFileSync('report.xml', dir + '/junit.xml'); process.exit(1);"
    )
    with pytest.raises(TestPhaseFailed) as caught:
        run_phase("test", [node, "-e", script], worktree, required=True, timeout_s=60,
                  runner=runner)  # fmt: skip
    report = caught.value.result.test_report
    assert _shape(report) == (5, 3, 1, 1, ["math subtracts"])


def test_passing_suite_returns_its_report_and_fresh_coverage_only(
    runner: SandboxRunner, worktree: Path
) -> None:
    (worktree / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    stale = worktree / "coverage.json"
    stale.write_text('{"totals": {"covered_lines": 1, "num_statements": 100}}')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    command = (
        'python -m pytest -q && printf \'%s\' \'<coverage lines-valid="10" lines-covered="9" '
        'line-rate="0.9"/>\' > coverage.xml'
    )
    result = run_phase("test", command, worktree, required=True, timeout_s=60, runner=runner)
    assert result.exit_code == 0 and not result.skipped
    assert _shape(result.test_report) == (1, 1, 0, 0, [])
    assert result.coverage is not None
    assert (result.coverage.lines_covered, result.coverage.lines_valid) == (9, 10)
    assert "1 passed" in result.log


def test_failing_build_raises_build_failed_naming_its_log_not_quoting_it(
    runner: SandboxRunner, worktree: Path
) -> None:
    command = (
        "for i in $(seq 1 2000); do echo compiling unit $i; done; echo 'error: boom' >&2; exit 3"
    )
    with pytest.raises(BuildPhaseFailed) as caught:
        run_phase("build", command, worktree, required=True, timeout_s=60, runner=runner)
    error = caught.value
    assert error.code.value == "build_failed"
    assert "exited with status 3" in error.message
    assert error.details["exit_code"] == 3
    # untrusted output stays out of the details (they end up in Temporal's history)
    assert error.details["log"] == "build.log"
    assert "log_tail" not in error.details
    assert "compiling unit 2000" not in repr(error.details)
    assert error.result.log.rstrip().endswith("error: boom")
    assert "compiling unit 1\n" in error.result.log  # the full (capped) log stays available


def test_hostile_report_is_ignored_and_noted_in_the_log(
    runner: SandboxRunner, worktree: Path
) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
        '<testsuite><testcase name="&a;"/></testsuite>'
    )
    command = f"mkdir -p test-results && printf '%s' '{bomb}' > test-results/TEST-bomb.xml"
    result = run_phase("test", command, worktree, required=True, timeout_s=60, runner=runner)
    assert result.test_report is None
    assert "ignored test report" in result.log and "DOCTYPE" in result.log

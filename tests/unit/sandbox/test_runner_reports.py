"""A report for every runner: libtest text, go test -json, node's junit summary, and the capture
each test command gets (which options, which environment, which output readers)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from activities.sandbox.reports.capture import (
    node_supports_junit,
    plan_capture,
    unittest_collector_path,
)
from activities.sandbox.reports.gotest import parse_go_test_json
from activities.sandbox.reports.junit import parse_junit_file
from activities.sandbox.reports.libtest import parse_libtest_output

DATA = Path(__file__).parent / "data"
REPORTS = Path("/reports")


@pytest.mark.parametrize(
    ("name", "failed"),
    [
        ("cargo-test-quiet.txt", "tests::bad"),
        # without --quiet cargo names each test binary, which becomes the class name
        ("cargo-test-verbose.txt", "src/lib.rs::tests::bad"),
    ],
)
def test_libtest_totals_sum_every_binary_including_doc_tests(name: str, failed: str) -> None:
    report = parse_libtest_output((DATA / name).read_text())
    assert report is not None
    # unit tests (ok, bad, slow ignored) + one integration test + one doc-test
    assert (report.total, report.passed, report.failed, report.skipped) == (5, 3, 1, 1)
    assert [f.qualified_name for f in report.failures] == [failed]


def test_libtest_output_without_a_result_line_gives_no_report() -> None:
    text = "   Compiling demo v0.1.0\nerror[E0308]: mismatched types\nerror: could not compile\n"
    assert parse_libtest_output(text) is None


def test_libtest_doc_test_failures_keep_their_spaced_names() -> None:
    text = (
        "   Doc-tests demo\n\nrunning 2 tests\ntest src/lib.rs - add (line 3) ... FAILED\n"
        "test src/lib.rs - sub (line 9) ... ok\n\nfailures:\n\n"
        "---- src/lib.rs - add (line 3) stdout ----\nTest executable failed.\n\n"
        "failures:\n    src/lib.rs - add (line 3)\n\n"
        "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; "
        "finished in 0.20s\n"
    )
    report = parse_libtest_output(text)
    assert report is not None and report.failed == 1
    assert report.failures[0].qualified_name == "doc-tests demo::src/lib.rs - add (line 3)"


def test_go_test_json_counts_subtests_and_a_package_that_did_not_build() -> None:
    report = parse_go_test_json((DATA / "go-test.json").read_text())
    assert report is not None
    # TestAdd, TestTable/one pass; TestTable/two and its parent fail; TestSkipped skips;
    # calc/sub does not compile (Go 1.19 says so in a plain FAIL line)
    assert (report.total, report.passed, report.failed, report.skipped, report.errors) == (
        6, 2, 2, 1, 1,
    )  # fmt: skip
    names = {f.qualified_name for f in report.failures}
    assert names == {
        "example.com/gt/calc::TestTable",
        "example.com/gt/calc::TestTable/two",
        "example.com/gt/calc/sub::(package)",
    }
    two = next(f for f in report.failures if f.name == "TestTable/two")
    assert "Add(2, 2) = 4, want 5" in two.message


def test_go_stream_that_is_not_json_gives_no_report() -> None:
    assert parse_go_test_json("ok  \texample.com/x\t0.01s\n") is None


def test_node_junit_totals_are_node_s_own_summary() -> None:
    # node counts a test with subtests as a test, writes it as a <testsuite>, and prints
    # its own totals as comments: tests 9 = pass 5 + fail 2 + skipped 1 + todo 1
    report = parse_junit_file(DATA / "node-junit.xml")
    assert (report.total, report.passed, report.failed, report.skipped) == (9, 5, 2, 2)
    assert {f.name for f in report.failures} == {"broken", "inside fails"}


def flat(command: str | list[str]) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def test_unittest_runs_through_the_collector_with_its_own_arguments(tmp_path: Path) -> None:
    capture = plan_capture(
        "python -m unittest discover -s tests -v", REPORTS, None, worktree=tmp_path
    )
    collector = unittest_collector_path()
    assert capture.runner == "unittest"
    assert capture.command == (
        f"python {collector} /reports/unittest-junit.xml discover -s tests -v"
    )
    assert collector.is_file()


def test_unittest_as_an_argv_list_keeps_env_assignments_and_interpreter(tmp_path: Path) -> None:
    capture = plan_capture(
        ["PYTHONWARNINGS=error", "python3.11", "-m", "unittest"], REPORTS, None, worktree=tmp_path,
        collector=Path("/tools/unittest_junit.py"),
    )  # fmt: skip
    assert capture.command == [
        "PYTHONWARNINGS=error", "python3.11", "/tools/unittest_junit.py",
        "/reports/unittest-junit.xml",
    ]  # fmt: skip


def test_go_test_gets_json_added_after_its_packages_and_globs_stay_unquoted(
    tmp_path: Path,
) -> None:
    capture = plan_capture("go test ./pkg/...", REPORTS, None, worktree=tmp_path)
    assert (capture.runner, capture.command) == ("go", "go test ./pkg/... -json")
    glob = plan_capture("pytest tests/test_*.py", REPORTS, None, worktree=tmp_path)
    assert glob.command == "pytest tests/test_*.py --junitxml=/reports/pytest-junit.xml"


def test_cargo_test_is_left_alone_and_read_from_its_output(tmp_path: Path) -> None:
    capture = plan_capture("cargo test --quiet --no-fail-fast", REPORTS, None, worktree=tmp_path)
    assert (capture.runner, capture.command) == ("cargo", "cargo test --quiet --no-fail-fast")
    for line in (DATA / "cargo-test-quiet.txt").read_text().splitlines():
        capture.feed(line)
    [report] = capture.line_reports()
    assert report.total == 5


def test_an_indirect_command_still_reads_libtest_lines(tmp_path: Path) -> None:
    capture = plan_capture("make test", REPORTS, None, worktree=tmp_path)
    assert capture.runner == "unknown" and capture.command == "make test"
    assert "--junitxml=/reports/pytest-junit.xml" in capture.env["PYTEST_ADDOPTS"]
    capture.feed("test result: ok. 4 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; "
                 "finished in 0.01s")  # fmt: skip
    assert [r.total for r in capture.line_reports()] == [4]


def write_package(root: Path, scripts: dict[str, str], *installed: str) -> Path:
    import json

    (root / "package.json").write_text(json.dumps({"name": "p", "scripts": scripts}))
    for name in installed:
        (root / "node_modules" / name).mkdir(parents=True)
        (root / "node_modules" / name / "package.json").write_text("{}")
    return root


def test_npm_test_running_node_test_gets_junit_through_node_options(tmp_path: Path) -> None:
    assert node_supports_junit(), "these tests need node >= 20 (with the junit test reporter)"
    root = write_package(tmp_path, {"test": "node --test test/"})
    capture = plan_capture("npm test", REPORTS, {"NODE_OPTIONS": "--no-warnings"}, worktree=root)
    assert capture.runner == "node" and capture.command == "npm test"
    options = capture.env["NODE_OPTIONS"]
    assert options.startswith("--no-warnings ")
    assert "--test-reporter=junit --test-reporter-destination=/reports/node-junit.xml" in options
    assert "--test-reporter=spec --test-reporter-destination=stdout" in options


def test_node_test_with_its_own_reporter_is_not_given_a_second_one(tmp_path: Path) -> None:
    root = write_package(tmp_path, {"test": "node --test --test-reporter=dot"})
    capture = plan_capture("npm test", REPORTS, None, worktree=root)
    assert "NODE_OPTIONS" not in capture.env


def test_npm_test_running_jest_adds_jest_junit_only_when_installed(tmp_path: Path) -> None:
    without = plan_capture("npm test", REPORTS, None, worktree=write_package(tmp_path,
                           {"test": "jest --ci"}))  # fmt: skip
    assert without.command == "npm test"
    with_it = tmp_path / "with"
    with_it.mkdir()
    capture = plan_capture(
        "npm test", REPORTS, None, worktree=write_package(with_it, {"test": "jest"}, "jest-junit")
    )
    assert flat(capture.command) == "npm test -- --reporters=default --reporters=jest-junit"
    assert capture.env["JEST_JUNIT_OUTPUT_DIR"] == "/reports"


def test_vitest_gets_its_built_in_junit_reporter(tmp_path: Path) -> None:
    capture = plan_capture("npx vitest run", REPORTS, None, worktree=tmp_path)
    assert capture.runner == "vitest"
    assert flat(capture.command).endswith(
        "--reporter=default --reporter=junit --outputFile.junit=/reports/vitest-junit.xml"
    )

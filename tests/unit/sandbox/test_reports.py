"""JUnit and coverage files of the common runners parse into one model; hostile XML is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activities.sandbox.reports.coverage import parse_coverage_file
from activities.sandbox.reports.junit import TestFailure, parse_junit_file
from activities.sandbox.reports.untrusted_xml import UnsafeReport

DATA = Path(__file__).parent / "data"


def test_pytest_junit_counts_failures_errors_and_skips() -> None:
    report = parse_junit_file(DATA / "pytest-junit.xml")
    assert (report.total, report.passed, report.failed, report.errors, report.skipped) == (
        5, 2, 1, 1, 1,
    )  # fmt: skip
    assert report.duration_s == pytest.approx(0.21)
    assert report.failures == [
        TestFailure("test_subtracts", "tests.test_math", "assert 1 == 2"),
        TestFailure("test_fixture", "tests.test_math", 'failed on setup with "RuntimeError: boom"'),
    ]


def test_jest_junit_takes_the_failure_message_from_the_element_text() -> None:
    report = parse_junit_file(DATA / "jest-junit.xml")
    assert (report.total, report.passed, report.failed, report.skipped) == (5, 3, 1, 1)
    assert report.duration_s == pytest.approx(1.234)
    [failure] = report.failures
    assert failure.qualified_name == "math subtracts::math subtracts"
    assert failure.message == "Error: expect(received).toBe(expected) // Object.is equality"


def test_go_junit_report_output_parses() -> None:
    report = parse_junit_file(DATA / "go-junit-report.xml")
    assert (report.total, report.passed, report.failed, report.skipped) == (3, 1, 1, 1)
    assert report.failures[0].qualified_name == "example.com/calc::TestSub"


def test_surefire_counts_a_flaky_pass_as_passed_and_errors_apart_from_failures() -> None:
    report = parse_junit_file(DATA / "TEST-com.example.CalcTest.xml")
    assert (report.total, report.passed, report.failed, report.errors) == (4, 2, 1, 1)
    assert [f.name for f in report.failures] == ["subtracts", "divides"]
    assert report.failures[1].message == "/ by zero"


def test_a_report_declaring_entities_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "junit.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><testsuite><testcase name="&lol2;"/></testsuite>'
    )
    with pytest.raises(UnsafeReport, match="DOCTYPE"):
        parse_junit_file(bomb)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_report_declaring_entities_in_a_wide_encoding_is_refused(
    tmp_path: Path, encoding: str
) -> None:
    # a byte-level screen for "<!DOCTYPE" never sees it in UTF-16: the parser must refuse
    label = {"utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}.get(encoding, encoding.upper())
    document = (
        f'<?xml version="1.0" encoding="{label}"?><!DOCTYPE t [<!ENTITY big "{"x" * 64}">]>'
        '<testsuite><testcase name="&big;"/></testsuite>'
    )
    bomb = tmp_path / "junit.xml"
    bomb.write_bytes(document.encode(encoding))
    with pytest.raises(UnsafeReport, match="DOCTYPE"):
        parse_junit_file(bomb)


def test_a_utf16_report_without_a_doctype_still_parses(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    document = '<?xml version="1.0" encoding="UTF-16"?><testsuite><testcase name="ok"/></testsuite>'
    path.write_bytes(document.encode("utf-16"))
    assert parse_junit_file(path).passed == 1


def test_a_non_junit_xml_file_is_rejected_naming_the_file(tmp_path: Path) -> None:
    other = tmp_path / "junit-config.xml"
    other.write_text("<project><name>x</name></project>")
    with pytest.raises(ValueError, match=r"junit-config\.xml"):
        parse_junit_file(other)


def test_cobertura_xml_gives_line_and_branch_rates(tmp_path: Path) -> None:
    path = tmp_path / "coverage.xml"
    path.write_text(
        '<?xml version="1.0" ?><coverage version="7.4" timestamp="1" lines-valid="200" '
        'lines-covered="150" line-rate="0.75" branches-covered="30" branches-valid="40" '
        'branch-rate="0.75" complexity="0"><packages/></coverage>'
    )
    report = parse_coverage_file(path)
    assert (report.line_rate, report.lines_covered, report.lines_valid) == (0.75, 150, 200)
    assert (report.branch_rate, report.branches_covered, report.branches_valid) == (0.75, 30, 40)
    assert report.source_format == "cobertura"


def test_coverage_py_json_and_istanbul_summary_give_the_same_model(tmp_path: Path) -> None:
    py = tmp_path / "coverage.json"
    py.write_text(json.dumps({"meta": {}, "files": {}, "totals": {
        "covered_lines": 80, "num_statements": 100, "percent_covered": 80.0,
        "missing_lines": 20, "excluded_lines": 0}}))  # fmt: skip
    istanbul = tmp_path / "coverage-summary.json"
    istanbul.write_text(json.dumps({"total": {
        "lines": {"total": 100, "covered": 80, "skipped": 0, "pct": 80},
        "statements": {"total": 110, "covered": 85, "skipped": 0, "pct": 77.27},
        "functions": {"total": 10, "covered": 9, "skipped": 0, "pct": 90},
        "branches": {"total": 20, "covered": 10, "skipped": 0, "pct": 50}}}))  # fmt: skip
    a, b = parse_coverage_file(py), parse_coverage_file(istanbul)
    assert (a.line_rate, a.lines_covered, a.lines_valid) == (0.8, 80, 100)
    assert (b.line_rate, b.lines_covered, b.lines_valid) == (0.8, 80, 100)
    assert a.branch_rate is None
    assert b.branch_rate == 0.5

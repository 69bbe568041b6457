"""JUnit XML from pytest, jest-junit, go-junit-report, Maven surefire, node's test runner and
builder's unittest collector, in one model.

The formats agree on <testsuite>/<testcase> with <failure>, <error> and <skipped> children and
differ in the details: jest-junit puts the message in the element text, surefire adds
<flakyFailure>/<rerunFailure> to tests that passed on retry, suites may nest. Counting test
cases rather than trusting suite attributes gives the same totals for all of them — except
for node's junit reporter, which turns a test with subtests into a <testsuite> yet counts it
as a test in its own summary; it writes that summary as comments (`<!-- tests 5 -->`), and
those totals are the ones `node --test` prints, so they win when present.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from activities.sandbox.reports.untrusted_xml import parse_untrusted_xml

_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class TestFailure:
    """One failing (or erroring) test case."""

    __test__ = False
    name: str
    classname: str
    message: str

    @property
    def qualified_name(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name


@dataclass(frozen=True)
class TestReport:
    """Totals and failures of one test run, whatever runner produced them."""

    __test__ = False
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    duration_s: float = 0.0
    failures: list[TestFailure] = field(default_factory=list)

    def merged(self, other: TestReport) -> TestReport:
        return TestReport(
            total=self.total + other.total,
            passed=self.passed + other.passed,
            failed=self.failed + other.failed,
            errors=self.errors + other.errors,
            skipped=self.skipped + other.skipped,
            duration_s=round(self.duration_s + other.duration_s, 3),
            failures=self.failures + other.failures,
        )


def _local(tag: object) -> str:
    # comments and processing instructions have a function, not a string, as their tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


_NODE_SUMMARY = re.compile(
    r"^\s*(tests|pass|fail|cancelled|skipped|todo|duration_ms) (\d+(?:\.\d+)?)\s*$"
)


def _node_summary(root: ET.Element) -> dict[str, float] | None:
    """The totals node's junit reporter writes as top-level comments, if all are there."""
    found: dict[str, float] = {}
    for child in root:
        if child.tag is ET.Comment and child.text:
            match = _NODE_SUMMARY.match(child.text)
            if match is not None:
                found[match.group(1)] = float(match.group(2))
    keys = ("tests", "pass", "fail", "cancelled", "skipped", "todo")
    return found if all(k in found for k in keys) else None


def _seconds(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return 0.0


def _message(element: ET.Element) -> str:
    text = element.get("message") or (element.text or "").strip()
    first = text.strip().splitlines()[0] if text.strip() else element.get("type", "")
    return first[:_MESSAGE_CHARS]


def parse_junit_element(root: ET.Element) -> TestReport:
    """Totals and failures of a <testsuites> or <testsuite> tree."""
    if _local(root.tag) not in ("testsuites", "testsuite"):
        raise ValueError(f"not a JUnit report: root element is <{_local(root.tag)}>")
    passed = failed = errors = skipped = 0
    failures: list[TestFailure] = []
    case_time = 0.0
    for case in root.iter():
        if _local(case.tag) != "testcase":
            continue
        case_time += _seconds(case.get("time"))
        outcome = {_local(child.tag): child for child in case}
        name, classname = case.get("name", ""), case.get("classname", "")
        if "failure" in outcome or "error" in outcome:
            kind = "failure" if "failure" in outcome else "error"
            if kind == "failure":
                failed += 1
            else:
                errors += 1
            failures.append(TestFailure(name, classname, _message(outcome[kind])))
        elif "skipped" in outcome:
            skipped += 1
        else:
            passed += 1
    duration = _seconds(root.get("time"))
    if not duration:
        suites = [s for s in root.iter() if _local(s.tag) == "testsuite" and s is not root]
        duration = sum(_seconds(s.get("time")) for s in suites) or case_time
    node = _node_summary(root)
    if node is not None:
        return TestReport(
            total=int(node["tests"]),
            passed=int(node["pass"]),
            failed=int(node["fail"]),
            errors=int(node["cancelled"]),
            skipped=int(node["skipped"] + node["todo"]),
            duration_s=round(node.get("duration_ms", duration * 1000) / 1000, 3),
            failures=failures,
        )
    return TestReport(
        total=passed + failed + errors + skipped,
        passed=passed,
        failed=failed,
        errors=errors,
        skipped=skipped,
        duration_s=round(duration, 3),
        failures=failures,
    )


def parse_junit_file(path: Path) -> TestReport:
    """Parse one JUnit file; raises UnsafeReport or ValueError naming the file."""
    root = parse_untrusted_xml(path)
    try:
        return parse_junit_element(root)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def merge_reports(reports: list[TestReport]) -> TestReport | None:
    if not reports:
        return None
    merged = reports[0]
    for report in reports[1:]:
        merged = merged.merged(report)
    return merged

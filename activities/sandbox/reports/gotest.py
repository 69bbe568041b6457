"""`go test -json` results from its event stream (test2json), read line by line.

Each terminal event (`pass`, `fail`, `skip`) with a `Test` field is one test; subtests
(`TestA/case`) are tests of their own, as `go test -v` and gotestsum list them. A package that
fails without any failing test (a build error, a panic in TestMain, a timeout) counts as one
error named after the package, so a broken package never reads as green; older Go versions
report a package that does not build only as a plain `FAIL <package> [build failed]` line,
which counts the same way. Other lines that are not JSON events (build output on stderr, a
truncated line) are ignored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from activities.sandbox.reports.junit import TestFailure, TestReport

_MAX_FAILURES = 1000
_BROKEN_PACKAGE = re.compile(r"^FAIL\s+(\S+)\s+\[(?:build|setup) failed\]$")
_MAX_OUTPUT_LINES = 5


class GoTestEvents:
    """Accumulates the outcome of every test and package from `go test -json` lines."""

    def __init__(self) -> None:
        # counted as the terminal events arrive (each test ends once): memory stays bounded
        # by the tests running at a time, not by the size of the suite
        self._counts = {"pass": 0, "fail": 0, "skip": 0}
        self._failures: list[TestFailure] = []
        self._packages_with_failed_tests: set[str] = set()
        self._elapsed: dict[str, float] = {}
        self._failed_packages: list[str] = []
        self._output: dict[tuple[str, str], list[str]] = {}
        self._events = 0

    def feed(self, line: str) -> None:
        text = line.strip()
        if not text.startswith("{"):
            broken = _BROKEN_PACKAGE.match(text)
            if broken is not None:
                self._events += 1
                self._failed_packages.append(broken.group(1))
            return
        try:
            event: Any = json.loads(text)
        except ValueError:
            return
        if not isinstance(event, dict) or not isinstance(event.get("Action"), str):
            return
        self._events += 1
        action, package = event["Action"], str(event.get("Package", ""))
        test = event.get("Test")
        if action == "output" and isinstance(test, str):
            kept = self._output.setdefault((package, test), [])
            output = str(event.get("Output", "")).strip()
            if output and not output.startswith(("=== ", "--- ")):
                kept.append(output)
                del kept[:-_MAX_OUTPUT_LINES]
            return
        if action not in ("pass", "fail", "skip"):
            return
        if isinstance(test, str):
            self._counts[action] += 1
            kept_output = self._output.pop((package, test), [])
            if action == "fail":
                self._packages_with_failed_tests.add(package)
                if len(self._failures) < _MAX_FAILURES:
                    message = " | ".join(kept_output) or "failed"
                    self._failures.append(TestFailure(test, package, message[:500]))
        else:
            elapsed = event.get("Elapsed")
            if isinstance(elapsed, int | float):
                self._elapsed[package] = float(elapsed)
            if action == "fail":
                self._failed_packages.append(package)

    def report(self) -> TestReport | None:
        """The run's report, or None when the stream held no test2json event."""
        if not self._events:
            return None
        counts = self._counts
        failures = list(self._failures)
        packages_with_failed_tests = self._packages_with_failed_tests
        errors = 0
        for package in dict.fromkeys(self._failed_packages):
            if package not in packages_with_failed_tests:
                errors += 1
                failures.append(TestFailure("(package)", package, "package failed without a test"))
        return TestReport(
            total=counts["pass"] + counts["fail"] + counts["skip"] + errors,
            passed=counts["pass"],
            failed=counts["fail"],
            errors=errors,
            skipped=counts["skip"],
            duration_s=round(sum(self._elapsed.values()), 3),
            failures=failures,
        )


def parse_go_test_json(text: str) -> TestReport | None:
    """The report of a whole captured `go test -json` output."""
    events = GoTestEvents()
    for line in text.splitlines():
        events.feed(line)
    return events.report()

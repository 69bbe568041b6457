"""`cargo test` results from libtest's text output, read line by line as the run prints it.

libtest's JSON format needs a nightly toolchain, so the stable text is the contract: every test
binary (unit tests, each integration test, the doc-tests) ends with
`test result: ok. 3 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in ...`,
and a failing binary lists its failed tests under a `failures:` heading before that line.
Totals are the sums over those lines; `ignored` counts as skipped and `measured` (benchmarks
run as tests) as passed. Tests filtered out never ran and are not counted.
"""

from __future__ import annotations

import re

from activities.sandbox.reports.junit import TestFailure, TestReport

_RESULT = re.compile(
    r"^test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; (\d+) measured;"
    r"(?: \d+ filtered out;)? finished in ([0-9.]+)s"
)
_BINARY = re.compile(r"^\s*(?:Running (?:unittests )?(\S+)|Doc-tests (\S+))")
_FAILED_NAME = re.compile(r"^    (\S.*)$")
_MAX_FAILURES = 1000


class LibtestOutput:
    """Accumulates the totals and failure names of a `cargo test` run from its output lines."""

    def __init__(self) -> None:
        self._passed = self._failed = self._ignored = 0
        self._seconds = 0.0
        self._results = 0
        self._binary = ""
        self._in_failures = False
        self._pending: list[str] = []
        self._failures: list[TestFailure] = []

    def feed(self, line: str) -> None:
        text = line.rstrip("\r\n")
        result = _RESULT.match(text)
        if result is not None:
            passed, failed, ignored, measured, seconds = result.groups()
            self._passed += int(passed) + int(measured)
            self._failed += int(failed)
            self._ignored += int(ignored)
            self._seconds += float(seconds)
            self._results += 1
            self._flush_failures()
            return
        binary = _BINARY.match(text)
        if binary is not None:
            self._binary = binary.group(1) or f"doc-tests {binary.group(2)}"
            return
        if text == "failures:":
            # the first heading introduces the captured output, the second the name list;
            # names are only taken from an indented run right after the heading
            self._in_failures = True
            self._pending = []
            return
        if self._in_failures:
            name = _FAILED_NAME.match(text)
            if name is not None and len(self._pending) < _MAX_FAILURES:
                self._pending.append(name.group(1))
            elif text.strip() or self._pending:
                self._in_failures = False

    def _flush_failures(self) -> None:
        room = _MAX_FAILURES - len(self._failures)
        self._failures += [
            TestFailure(name, self._binary, "failed (see the test log)")
            for name in self._pending[: max(room, 0)]
        ]
        self._pending = []
        self._in_failures = False

    def report(self) -> TestReport | None:
        """The run's report, or None when no test binary printed its result line."""
        if not self._results:
            return None
        return TestReport(
            total=self._passed + self._failed + self._ignored,
            passed=self._passed,
            failed=self._failed,
            skipped=self._ignored,
            duration_s=round(self._seconds, 3),
            failures=list(self._failures),
        )


def parse_libtest_output(text: str) -> TestReport | None:
    """The report of a whole captured `cargo test` output."""
    parser = LibtestOutput()
    for line in text.splitlines():
        parser.feed(line)
    return parser.report()

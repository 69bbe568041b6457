# mypy: ignore-errors
# (runs under the project's interpreter, whatever its version: plain Python 3, no typing)
"""Runs `python -m unittest ARGS` unchanged and also writes a JUnit report of the run.

Usage: python unittest_junit.py REPORT_FILE [unittest arguments...]

builder puts this file in the sandbox read-only and runs it with the project's own
interpreter in place of `python -m unittest`, so discovery, `load_tests` hooks (doctest
suites included), verbosity and exit status are unittest's own. It uses only the standard
library and runs on any Python 3 the project may use. Totals match unittest's "Ran N tests":
every test run is one <testcase>; an error or skip outside a test (setUpClass, a module
fixture) is one more <testcase>, as unittest also counts it among its errors or skips. The
exit status is unittest's own (the report is written on the way out).
"""

import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET

_MESSAGE_CHARS = 2000


def _ids(test):
    test_id = test.id()
    if "." in test_id and not test_id.startswith("unittest.loader."):
        classname, _, name = test_id.rpartition(".")
        return classname, name
    return "", test_id


class _Record:
    def __init__(self):
        self.cases = []  # (classname, name, seconds, kind or None, message)
        self.started = {}


def _result_class(record):
    class RecordingResult(unittest.TextTestResult):
        def startTest(self, test):
            record.started[id(test)] = time.monotonic()
            self._outcome_kind = None
            self._outcome_message = ""
            super().startTest(test)

        def _mark(self, kind, err_text):
            # the first problem of a test decides its outcome (a failed subTest then an error)
            if getattr(self, "_outcome_kind", None) is None:
                self._outcome_kind = kind
                self._outcome_message = err_text[:_MESSAGE_CHARS]

        def addError(self, test, err):
            super().addError(test, err)
            if not isinstance(test, unittest.TestCase):
                # an error outside any test: unittest lists it, no test ran for it
                name = str(test)
                record.cases.append(("", name, 0.0, "error", self._exc_info_to_string(err, test)))
                return
            self._mark("error", self._exc_info_to_string(err, test))

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._mark("failure", self._exc_info_to_string(err, test))

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is not None:
                kind = "failure" if issubclass(err[0], test.failureException) else "error"
                self._mark(kind, self._exc_info_to_string(err, test))

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            if not isinstance(test, unittest.TestCase):
                record.cases.append(("", str(test), 0.0, "skipped", reason))
                return
            self._mark("skipped", reason)

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._mark("failure", "unexpected success")

        def stopTest(self, test):
            super().stopTest(test)
            began = record.started.pop(id(test), time.monotonic())
            classname, name = _ids(test)
            kind = getattr(self, "_outcome_kind", None)
            message = getattr(self, "_outcome_message", "")
            record.cases.append((classname, name, time.monotonic() - began, kind, message))

    return RecordingResult


def _write(path, record, seconds):
    suite = ET.Element("testsuite", name="unittest", time=f"{seconds:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for classname, name, took, kind, message in record.cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name)
        case.set("time", f"{took:.3f}")
        counts["tests"] += 1
        if kind is not None:
            first = message.strip().splitlines()[-1] if message.strip() else kind
            child = ET.SubElement(case, kind, message=first[:500])
            if kind != "skipped":
                child.text = message
            counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    tmp = path + ".tmp"
    ET.ElementTree(suite).write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, path)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: unittest_junit.py REPORT_FILE [unittest arguments...]\n")
        return 2
    report = argv[1]
    # like `python -m unittest`: the working directory, not this file's folder, is importable
    sys.path[0] = os.getcwd()
    record = _Record()

    class Runner(unittest.TextTestRunner):
        resultclass = _result_class(record)

    started = time.monotonic()
    try:
        # exits with unittest's own status (5 for "no tests ran" on Python 3.12+)
        unittest.main(module=None, argv=["python -m unittest", *argv[2:]], testRunner=Runner)
    finally:
        _write(report, record, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

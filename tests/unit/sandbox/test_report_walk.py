"""Which worktree files the test phase reads as reports: written during the run, named as a
report (or under a reports directory), outside the skipped directories and depth limit."""

from __future__ import annotations

import os
import time
from pathlib import Path

from activities.sandbox.reports.collect import collect_reports, fresh_reports

JUNIT = (
    '<testsuite name="s" tests="{n}" failures="0" errors="0" skipped="0">' + "{cases}</testsuite>"
)


def junit(n: int) -> str:
    return JUNIT.format(n=n, cases='<testcase classname="c" name="t"/>' * n)


def write(root: Path, relative: str, text: str = "x", *, stale: bool = False) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if stale:  # written before the run started
        old = time.time() - 3600
        os.utime(path, (old, old))
    return path


def test_only_reports_written_during_the_run_and_named_as_reports_are_read(
    tmp_path: Path,
) -> None:
    for n in range(300):  # the repository's own files, none of them a report
        write(tmp_path, f"src/pkg_{n % 7}/mod_{n}.py")
    write(tmp_path, "TEST-committed.xml", junit(9), stale=True)
    fresh = write(tmp_path, "build/TEST-unit.xml", junit(2))
    in_dir = write(tmp_path, "module/target/surefire-reports/results.xml", junit(3))
    write(tmp_path, "docs/diagram.xml", "<svg/>")  # XML, but neither named nor placed as one
    write(tmp_path, "node_modules/lib/junit.xml", junit(5))  # a skipped directory
    deep = "/".join(f"d{i}" for i in range(8))
    at_limit = write(tmp_path, f"{deep}/junit-deep.xml", junit(1))  # depth 8: read
    write(tmp_path, f"{deep}/d8/junit-deeper.xml", junit(1))  # beyond it: not read
    since = time.time() - 60

    found = fresh_reports(tmp_path, since)

    assert found.junit == sorted([fresh, in_dir, at_limit])
    report, coverage = collect_reports([], tmp_path, since, notes := [])
    assert report is not None and report.total == 2 + 3 + 1
    assert coverage is None and notes == []


def test_the_shallowest_fresh_coverage_file_of_the_preferred_name_is_read(
    tmp_path: Path,
) -> None:
    cobertura = '<coverage line-rate="{r}" branch-rate="0.5"/>'
    write(tmp_path, "coverage.xml", cobertura.format(r="0.1"), stale=True)
    write(tmp_path, "a/b/coverage.xml", cobertura.format(r="0.2"))
    write(tmp_path, "z/coverage.xml", cobertura.format(r="0.3"))
    write(tmp_path, "cobertura.xml", cobertura.format(r="0.4"))  # a less preferred name

    _report, coverage = collect_reports([], tmp_path, time.time() - 60, [])

    assert coverage is not None and coverage.line_rate == 0.3


def test_links_a_run_planted_are_neither_read_nor_entered(tmp_path: Path) -> None:
    worktree, host = tmp_path / "worktree", tmp_path / "host"
    write(host, "TEST-host.xml", junit(4))  # outside the worktree
    write(host, "reports/junit.xml", junit(4))
    worktree.mkdir()
    (worktree / "junit.xml").symlink_to(host / "TEST-host.xml")
    (worktree / "test-results").symlink_to(host / "reports")
    (worktree / "coverage.xml").symlink_to(host / "TEST-host.xml")
    own = write(worktree, "test-results-real/TEST-own.xml", junit(1))

    found = fresh_reports(worktree, time.time() - 60)

    assert found.junit == [own] and found.coverage == []

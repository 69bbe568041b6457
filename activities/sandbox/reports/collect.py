"""Finding the report files a test run wrote: in the reports dir we gave it, and in the worktree.

Only worktree files modified during the run count, so a report committed to the repository or
left by an earlier run never masks the current result. Only regular files are read: a symlink
the run planted (to a host file) or a FIFO (which would block the reader) is skipped.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from activities.listing import entries
from activities.sandbox.reports.coverage import CoverageReport, parse_coverage_file
from activities.sandbox.reports.junit import TestReport, merge_reports, parse_junit_file
from activities.sandbox.reports.untrusted_xml import UnsafeReport
from activities.sandbox.untrusted_files import regular_files

_SKIPPED_DIRS = frozenset(
    {".git", "node_modules", ".venv", "venv", "__pycache__", ".tox", ".nox", ".mypy_cache"}
)
_JUNIT_NAMES = ("TEST-*.xml", "junit*.xml", "*-junit.xml", "*_junit.xml")
_JUNIT_DIRS = frozenset({"test-results", "test-reports", "surefire-reports", "failsafe-reports"})
# Most specific first: the first fresh match wins.
_COVERAGE_NAMES = (
    "coverage.xml",
    "cobertura-coverage.xml",
    "cobertura.xml",
    "coverage-summary.json",
    "coverage.json",
)
_MAX_DEPTH = 8
_MAX_FILES = 200


def _junit_name(name: str, in_junit_dir: bool) -> bool:
    """An XML file named like a JUnit report, or any XML file under a JUnit reports dir."""
    if os.path.splitext(name)[1].lower() != ".xml":  # as Path.suffix: ".xml" alone is not
        return False
    return in_junit_dir or any(fnmatch.fnmatch(name, pattern) for pattern in _JUNIT_NAMES)


@dataclass
class FreshReports:
    """The worktree's report files written during the run: one walk for both collectors."""

    junit: list[Path] = field(default_factory=list)
    coverage: list[Path] = field(default_factory=list)


def fresh_reports(root: Path, since: float) -> FreshReports:
    """Regular files (never a symlink, FIFO or device) modified since `since` whose names
    make them JUnit or coverage candidates. Names are matched from the directory listing,
    so only candidates are stat'ed: a 2,000-file worktree costs a listing, not 2,000 stats."""
    found = FreshReports()
    pending: list[tuple[str, int, bool]] = [(str(root), 0, False)]
    while pending:
        directory, depth, in_junit_dir = pending.pop()
        for entry in entries(directory):
            if _real_directory(entry):  # a symlinked directory is never entered
                if entry.name not in _SKIPPED_DIRS and depth < _MAX_DEPTH:
                    below = in_junit_dir or entry.name in _JUNIT_DIRS
                    pending.append((entry.path, depth + 1, below))
                continue
            junit = _junit_name(entry.name, in_junit_dir)
            if not junit and entry.name not in _COVERAGE_NAMES:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if not (stat.S_ISREG(st.st_mode) and st.st_mtime >= since):
                continue
            path = Path(entry.path)
            if entry.name in _COVERAGE_NAMES:
                found.coverage.append(path)
            if junit:
                found.junit.append(path)
    found.junit.sort()
    # the shallowest file of a name first, then by path: the same choice on every run
    found.coverage.sort(key=lambda p: (len(p.parts), p))
    return found


def _real_directory(entry: os.DirEntry[str]) -> bool:
    """A directory, not a link to one; not one either when its type cannot be told (a
    listing without types, and an lstat the run's permissions refuse)."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def collect_reports(
    report_dirs: Sequence[Path], worktree: Path, since: float, notes: list[str]
) -> tuple[TestReport | None, CoverageReport | None]:
    """The test phase's JUnit report and coverage, from one walk of the worktree."""
    fresh = fresh_reports(worktree, since)
    return (
        collect_junit(report_dirs, worktree, since, notes, fresh),
        collect_coverage(worktree, since, notes, fresh),
    )


def collect_junit(
    report_dirs: Sequence[Path],
    worktree: Path,
    since: float,
    notes: list[str],
    fresh: FreshReports | None = None,
) -> TestReport | None:
    """Merged report of every JUnit file found; unreadable files are noted, not fatal."""
    candidates: list[Path] = []
    for directory in report_dirs:
        candidates += [p for p in regular_files(directory) if p.suffix == ".xml"]
    candidates += (fresh if fresh is not None else fresh_reports(worktree, since)).junit
    reports: list[TestReport] = []
    for path in candidates[:_MAX_FILES]:
        try:
            reports.append(parse_junit_file(path))
        except (UnsafeReport, ValueError, OSError) as exc:
            notes.append(f"ignored test report: {exc}")
    if len(candidates) > _MAX_FILES:
        notes.append(f"read the first {_MAX_FILES} of {len(candidates)} test report files")
    return merge_reports(reports)


def collect_coverage(
    worktree: Path, since: float, notes: list[str], fresh: FreshReports | None = None
) -> CoverageReport | None:
    """The first fresh coverage file, by the preference order of _COVERAGE_NAMES."""
    found: dict[str, Path] = {}
    for path in (fresh if fresh is not None else fresh_reports(worktree, since)).coverage:
        found.setdefault(path.name, path)
    for name in _COVERAGE_NAMES:
        if name in found:
            try:
                return parse_coverage_file(found[name])
            except (UnsafeReport, ValueError, OSError) as exc:
                notes.append(f"ignored coverage report: {exc}")
    return None

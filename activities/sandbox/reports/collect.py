"""Finding the report files a test run wrote: in the reports dir we gave it, and in the worktree.

Only worktree files modified during the run count, so a report committed to the repository or
left by an earlier run never masks the current result. Only regular files are read: a symlink
the run planted (to a host file) or a FIFO (which would block the reader) is skipped.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

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


def _fresh_files(root: Path, since: float) -> Iterator[Path]:
    """Regular files (never a symlink, FIFO or device) modified since `since`."""
    root_depth = len(root.parts)
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS]
        if len(here.parts) - root_depth >= _MAX_DEPTH:
            dirs[:] = []
        for name in files:
            path = here / name
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mtime >= since:
                yield path


def _is_junit_candidate(path: Path, root: Path) -> bool:
    if path.suffix.lower() != ".xml":
        return False
    if any(fnmatch.fnmatch(path.name, pattern) for pattern in _JUNIT_NAMES):
        return True
    return any(part in _JUNIT_DIRS for part in path.relative_to(root).parts[:-1])


def collect_junit(
    report_dirs: Sequence[Path], worktree: Path, since: float, notes: list[str]
) -> TestReport | None:
    """Merged report of every JUnit file found; unreadable files are noted, not fatal."""
    candidates: list[Path] = []
    for directory in report_dirs:
        candidates += [p for p in regular_files(directory) if p.suffix == ".xml"]
    candidates += sorted(
        p for p in _fresh_files(worktree, since) if _is_junit_candidate(p, worktree)
    )
    reports: list[TestReport] = []
    for path in candidates[:_MAX_FILES]:
        try:
            reports.append(parse_junit_file(path))
        except (UnsafeReport, ValueError, OSError) as exc:
            notes.append(f"ignored test report: {exc}")
    if len(candidates) > _MAX_FILES:
        notes.append(f"read the first {_MAX_FILES} of {len(candidates)} test report files")
    return merge_reports(reports)


def collect_coverage(worktree: Path, since: float, notes: list[str]) -> CoverageReport | None:
    """The first fresh coverage file, by the preference order of _COVERAGE_NAMES."""
    found: dict[str, Path] = {}
    for path in _fresh_files(worktree, since):
        if path.name in _COVERAGE_NAMES and path.name not in found:
            found[path.name] = path
    for name in _COVERAGE_NAMES:
        if name in found:
            try:
                return parse_coverage_file(found[name])
            except (UnsafeReport, ValueError, OSError) as exc:
                notes.append(f"ignored coverage report: {exc}")
    return None

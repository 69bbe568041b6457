"""Coverage summaries: Cobertura XML (coverage.py, jest, gradle plugins), coverage.py JSON and
istanbul's coverage-summary.json, in one model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.sandbox.reports.untrusted_xml import MAX_REPORT_BYTES, parse_untrusted_xml


@dataclass(frozen=True)
class CoverageReport:
    """Line (and, where known, branch) coverage of one test run; rates are 0..1."""

    line_rate: float
    lines_covered: int
    lines_valid: int
    branch_rate: float | None = None
    branches_covered: int | None = None
    branches_valid: int | None = None
    source_format: str = ""


def _rate(covered: int, valid: int) -> float:
    return round(covered / valid, 4) if valid else 0.0


def parse_cobertura(path: Path) -> CoverageReport:
    root = parse_untrusted_xml(path)
    if root.tag != "coverage":
        raise ValueError(f"{path}: not a Cobertura report: root element is <{root.tag}>")
    try:
        covered = int(root.get("lines-covered", "0"))
        valid = int(root.get("lines-valid", "0"))
        line_rate = float(root.get("line-rate", "0")) if valid == 0 else _rate(covered, valid)
        b_valid = root.get("branches-valid")
        b_covered = root.get("branches-covered")
    except ValueError as exc:
        raise ValueError(f"{path}: malformed Cobertura totals ({exc})") from None
    has_branches = b_valid is not None and b_covered is not None and int(b_valid) > 0
    return CoverageReport(
        line_rate=round(line_rate, 4),
        lines_covered=covered,
        lines_valid=valid,
        branch_rate=_rate(int(b_covered or 0), int(b_valid or 0)) if has_branches else None,
        branches_covered=int(b_covered) if has_branches and b_covered else None,
        branches_valid=int(b_valid) if has_branches and b_valid else None,
        source_format="cobertura",
    )


def _load_json(path: Path) -> Any:
    size = path.stat().st_size
    if size > MAX_REPORT_BYTES:
        raise ValueError(f"{path}: {size} bytes is over the {MAX_REPORT_BYTES} byte limit")
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None


def parse_coverage_json(path: Path) -> CoverageReport:
    """coverage.py's `coverage json` output or istanbul's coverage-summary.json."""
    data = _load_json(path)
    try:
        if isinstance(data, dict) and isinstance(data.get("totals"), dict):
            totals = data["totals"]
            covered, valid = int(totals["covered_lines"]), int(totals["num_statements"])
            b_valid = totals.get("num_branches")
            b_covered = totals.get("covered_branches")
            has_branches = bool(b_valid)
            return CoverageReport(
                line_rate=_rate(covered, valid),
                lines_covered=covered,
                lines_valid=valid,
                branch_rate=_rate(int(b_covered or 0), int(b_valid)) if has_branches else None,
                branches_covered=int(b_covered or 0) if has_branches else None,
                branches_valid=int(b_valid) if has_branches else None,
                source_format="coverage.py-json",
            )
        if isinstance(data, dict) and isinstance(data.get("total"), dict):
            lines = data["total"]["lines"]
            branches = data["total"].get("branches") or {}
            b_valid = int(branches.get("total", 0))
            return CoverageReport(
                line_rate=_rate(int(lines["covered"]), int(lines["total"])),
                lines_covered=int(lines["covered"]),
                lines_valid=int(lines["total"]),
                branch_rate=_rate(int(branches.get("covered", 0)), b_valid) if b_valid else None,
                branches_covered=int(branches.get("covered", 0)) if b_valid else None,
                branches_valid=b_valid or None,
                source_format="istanbul-summary",
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed coverage totals ({exc!r})") from None
    raise ValueError(f"{path}: neither coverage.py JSON nor an istanbul coverage summary")


def parse_coverage_file(path: Path) -> CoverageReport:
    if path.suffix == ".json":
        return parse_coverage_json(path)
    return parse_cobertura(path)

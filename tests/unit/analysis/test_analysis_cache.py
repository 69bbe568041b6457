"""The worker's analysis cache: what one execution gets out of it, another cannot change."""

from __future__ import annotations

import uuid

from activities.analysis.cache import AnalysisCache, AnalysisOutcome, analysis_key
from activities.analysis.report import AnalysisReport, LanguageShare


def outcome() -> AnalysisOutcome:
    report = AnalysisReport(
        languages=[LanguageShare(name="python", files=3, bytes=120, share=1.0)],
        test_command="python -m pytest",
        command_reasons={"test": "pyproject.toml declares pytest"},
        total_files=3,
    )
    return AnalysisOutcome.of(report)


def test_what_one_caller_changes_in_its_copy_no_other_caller_gets() -> None:
    cache = AnalysisCache()
    key = analysis_key(uuid.uuid4(), uuid.uuid4(), "a" * 40, {"test_command": "x"})
    stored = outcome()
    cache.put(key, stored)
    stored.commands["test"] = "changed after put"

    first = cache.get(key)
    assert first is not None
    first.commands["test"] = "rm -rf /"
    first.languages["go"] = 1.0
    first.setup_plan.environments.append("a planted environment")  # type: ignore[arg-type]

    second = cache.get(key)
    assert second is not None
    assert second.commands["test"] == "python -m pytest"
    assert second.languages == {"python": 1.0}
    assert second.setup_plan.environments == []
    # the stored artifact is the report's own JSON, byte for byte
    assert AnalysisReport.model_validate_json(second.report_json).total_files == 3


def test_the_least_recently_used_outcome_goes_first() -> None:
    cache = AnalysisCache(capacity=2)
    keys = [f"k{n}" for n in range(3)]
    cache.put(keys[0], outcome())
    cache.put(keys[1], outcome())
    assert cache.get(keys[0]) is not None  # k0 used again: k1 is now the oldest
    cache.put(keys[2], outcome())
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None

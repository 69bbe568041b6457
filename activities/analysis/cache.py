"""Analyses this worker already made, by what they are a function of.

An analysis reads only the tree at the base commit (its `.builder.yml` included) and the
repository's properties, so a second execution on the same commit with the same
properties gets the stored outcome instead of walking the tree again. Keyed per tenant and
repository: an outcome never crosses tenants. Bounded (least recently used out), in
memory: a restarted worker simply analyses again.

What is kept is what the analyze activity stores and answers, not the report itself: the
two artifacts as the bytes they are stored as, and the few fields the execution row and
the result take. A 2,000-file repository's report is 170 KiB; copying it out of the cache
(13 ms) or parsing it back (10 ms) cost more than the rest of a reused analysis.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from activities.analysis.report import AnalysisReport
from domain.repository_configuration import ResolvedConfiguration
from domain.setup_plan import SetupPlan

DEFAULT_CAPACITY = 32


def analysis_key(
    tenant_id: uuid.UUID, repository_id: uuid.UUID, commit: str, properties: dict[str, Any]
) -> str:
    """What an analysis depends on, as one string."""
    fingerprint = hashlib.sha256(
        json.dumps(properties, sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"{tenant_id}/{repository_id}/{commit}/{fingerprint}"


@dataclass(frozen=True)
class AnalysisOutcome:
    """One analysis as the analyze activity uses it: the report and dependency graph as
    stored (JSON bytes) and the fields it records and answers with."""

    report_json: bytes
    graph_json: bytes
    configuration: ResolvedConfiguration | None
    setup_plan: SetupPlan
    commands: dict[str, str | None]
    command_reasons: dict[str, str]
    languages: dict[str, float]
    total_files: int

    @classmethod
    def of(cls, report: AnalysisReport) -> AnalysisOutcome:
        return cls(
            report_json=report.model_dump_json().encode(),
            graph_json=report.dependency_graph.model_dump_json().encode(),
            configuration=report.configuration,
            setup_plan=report.setup_plan,
            commands={
                "setup": report.setup_command,
                "build": report.build_command,
                "test": report.test_command,
            },
            command_reasons=dict(report.command_reasons),
            languages={lang.name: lang.share for lang in report.languages},
            total_files=report.total_files,
        )

    def copy(self) -> AnalysisOutcome:
        """A copy no holder of another can change (the bytes are immutable already)."""
        return dataclasses.replace(
            self,
            configuration=self.configuration.model_copy(deep=True) if self.configuration else None,
            setup_plan=self.setup_plan.model_copy(deep=True),
            commands=dict(self.commands),
            command_reasons=dict(self.command_reasons),
            languages=dict(self.languages),
        )


class AnalysisCache:
    """A bounded LRU map from `analysis_key` to an outcome (copies in and out, so no
    caller can change what another gets)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._outcomes: OrderedDict[str, AnalysisOutcome] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> AnalysisOutcome | None:
        with self._lock:
            outcome = self._outcomes.get(key)
            if outcome is None:
                return None
            self._outcomes.move_to_end(key)
        return outcome.copy()

    def put(self, key: str, outcome: AnalysisOutcome) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            self._outcomes[key] = outcome.copy()
            self._outcomes.move_to_end(key)
            while len(self._outcomes) > self._capacity:
                self._outcomes.popitem(last=False)

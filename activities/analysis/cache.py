"""Analyses this worker already made, by what they are a function of.

An analysis reads only the tree at the base commit (its `.builder.yml` included) and the
repository's properties, so a second execution on the same commit with the same
properties gets the stored report instead of walking the tree again. Keyed per tenant and
repository: a report never crosses tenants. Bounded (least recently used out), in memory:
a restarted worker simply analyses again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections import OrderedDict
from typing import Any

from activities.analysis.report import AnalysisReport

DEFAULT_CAPACITY = 32


def analysis_key(
    tenant_id: uuid.UUID, repository_id: uuid.UUID, commit: str, properties: dict[str, Any]
) -> str:
    """What an analysis depends on, as one string."""
    fingerprint = hashlib.sha256(
        json.dumps(properties, sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"{tenant_id}/{repository_id}/{commit}/{fingerprint}"


class AnalysisCache:
    """A bounded LRU map from `analysis_key` to the report (copies in and out, so no caller
    can change what another gets)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._reports: OrderedDict[str, AnalysisReport] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> AnalysisReport | None:
        with self._lock:
            report = self._reports.get(key)
            if report is None:
                return None
            self._reports.move_to_end(key)
        return report.model_copy(deep=True)

    def put(self, key: str, report: AnalysisReport) -> None:
        if self._capacity <= 0:
            return
        with self._lock:
            self._reports[key] = report.model_copy(deep=True)
            self._reports.move_to_end(key)
            while len(self._reports) > self._capacity:
                self._reports.popitem(last=False)

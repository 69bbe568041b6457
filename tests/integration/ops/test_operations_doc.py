"""docs/operations.md stays the complete configuration reference as settings grow."""

from __future__ import annotations

import re
from pathlib import Path

from builder.settings import Settings

DOC = Path(__file__).resolve().parents[3] / "docs" / "operations.md"


def test_every_setting_is_documented_as_its_environment_variable() -> None:
    text = DOC.read_text()
    missing = [
        f"BUILDER_{name.upper()}"
        for name in Settings.model_fields
        if not re.search(rf"`BUILDER_{name.upper()}`", text)
    ]
    assert missing == [], f"docs/operations.md does not document {missing}"


def test_guide_covers_each_operations_task() -> None:
    headings = set(re.findall(r"^## (.+)$", DOC.read_text(), re.M))
    assert headings >= {
        "Deploy",
        "Configuration reference",
        "Rotating vault keys",
        "Scaling workers",
        "Backups",
        "Purge schedule",
        "Upgrading",
        "Observability",
    }

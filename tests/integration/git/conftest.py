"""Fixtures of the git engine integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.git import GitEngine
from tests.integration.git.support import engine_for


@pytest.fixture
def engine(tmp_path: Path) -> GitEngine:
    return engine_for(tmp_path)

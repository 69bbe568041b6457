"""Fixtures of the codegen integration tests: a scripted model server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.codegen.model_server import ScriptedModelServer


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    server = ScriptedModelServer()
    server.start()
    yield server
    server.stop()

"""Property-based fuzz of the whole OpenAPI document (schemathesis), in-process over ASGI with a
valid API key: no 5xx, every status/content type/header/body as documented.

schemathesis runs the app on its own event loop (a background portal), so the app here gets
its own database engine and a lazily connecting Temporal client bound to that loop.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.admin import create_api_key
from api.app import create_app
from api.deps import ApiDeps, LazyTemporalClient
from builder.stack.temporal import TemporalDevServer
from persistence.artifacts.local import LocalArtifactStore
from persistence.db import create_engine, session_factory
from persistence.vault import Keyring
from tests.integration.api.conftest import api_config

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
async def fuzz_key(sessions: async_sessionmaker[AsyncSession]) -> str:
    _id, plaintext = await create_api_key(sessions, uuid.uuid4(), "fuzz")
    return plaintext


@pytest.fixture(scope="module")
def fuzz_schema(
    database_url: str,
    temporal_server: TemporalDevServer,
    keyring: Keyring,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[schemathesis.BaseSchema]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    deps = ApiDeps(
        sessions=session_factory(create_engine(database_url, pool_size=5, max_overflow=5)),
        temporal=LazyTemporalClient(temporal_server.address),
        artifacts=LocalArtifactStore(root / "artifacts"),
        keyring=keyring,
        database_url=database_url,
        config=api_config(root, sse_heartbeat_seconds=0.2),
    )
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(deps))


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_5xx_or_breaks_its_documented_schema(
    case: schemathesis.Case, fuzz_key: str
) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_key}"}, checks=CHECKS)

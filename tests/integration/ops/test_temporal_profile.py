"""builder's processes reach a real Temporal server through a profile file and TEMPORAL_*."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from builder.settings import Settings
from builder.stack.temporal import TemporalDevServer
from builder.temporal_connection import connect
from builder.worker import connect as worker_connect


async def test_worker_connects_with_address_and_namespace_from_a_profile_file(
    temporal_server: TemporalDevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "temporal.toml"
    profile.write_text(
        f'[profile.ops]\naddress = "{temporal_server.address}"\nnamespace = "default"\n'
    )
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(profile))
    monkeypatch.setenv("TEMPORAL_PROFILE", "ops")
    for name in ("BUILDER_TEMPORAL_ADDRESS", "BUILDER_TEMPORAL_NAMESPACE", "TEMPORAL_ADDRESS"):
        monkeypatch.delenv(name, raising=False)

    client = await worker_connect(Settings(_env_file=None))  # type: ignore[call-arg]
    assert client.namespace == "default"
    # a round trip through the server the profile names
    listed = [w async for w in client.list_workflows(f"WorkflowId='{uuid.uuid4()}'")]
    assert listed == []


async def test_temporal_address_variable_overrides_a_profile_pointing_elsewhere(
    temporal_server: TemporalDevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = tmp_path / "temporal.toml"
    profile.write_text('[profile.default]\naddress = "127.0.0.1:1"\n')
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(profile))
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_server.address)
    monkeypatch.delenv("BUILDER_TEMPORAL_ADDRESS", raising=False)

    client = await connect(Settings(_env_file=None))  # type: ignore[call-arg]
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version

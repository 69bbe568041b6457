"""The compose stack's namespace job (namespace and search attributes), run for real against
a Temporal dev server."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from builder.stack.temporal import TemporalDevServer, temporal_executable

SCRIPT = Path(__file__).resolve().parents[3] / "deploy/temporal/setup-namespace.sh"


def run_job(
    server: TemporalDevServer, attributes: str, namespace: str = "default"
) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(temporal_executable()).parent)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": namespace,
        "NAMESPACE_RETENTION": "3d",
        "SEARCH_ATTRIBUTES": attributes,
    }
    return subprocess.run(["sh", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120)


def registered(server: TemporalDevServer) -> str:
    return subprocess.run(
        [
            *(temporal_executable(), "operator", "search-attribute", "list"),
            *("--namespace", "default", "--address", server.address),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_job_creates_missing_attributes_and_leaves_existing_ones(
    temporal_server: TemporalDevServer,
) -> None:
    fresh = f"OpsProbe{uuid.uuid4().hex[:8]}"
    attributes = f"BuilderState=Keyword {fresh}=Keyword"

    first = run_job(temporal_server, attributes)
    assert first.returncode == 0, first.stderr
    assert "search attribute BuilderState already registered" in first.stdout
    assert f"search attribute {fresh} (Keyword) created" in first.stdout
    assert fresh in registered(temporal_server)

    again = run_job(temporal_server, attributes)
    assert again.returncode == 0, again.stderr
    assert f"search attribute {fresh} already registered" in again.stdout


def test_job_fails_when_it_is_not_told_which_attributes_to_create(
    temporal_server: TemporalDevServer,
) -> None:
    result = run_job(temporal_server, "")
    assert result.returncode != 0
    assert "SEARCH_ATTRIBUTES" in result.stderr


def test_job_creates_a_missing_namespace_with_its_retention_then_finds_it(
    temporal_server: TemporalDevServer,
) -> None:
    namespace = f"ops-{uuid.uuid4().hex[:8]}"
    first = run_job(temporal_server, "BuilderState=Keyword", namespace)
    assert first.returncode == 0, first.stderr
    assert f"namespace {namespace} created" in first.stdout
    assert "search attribute BuilderState (Keyword) created" in first.stdout
    described = subprocess.run(
        [
            *(temporal_executable(), "operator", "namespace", "describe"),
            *("--namespace", namespace, "--address", temporal_server.address, "-o", "json"),
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert '"workflowExecutionRetentionTtl": "259200s"' in described

    again = run_job(temporal_server, "BuilderState=Keyword", namespace)
    assert again.returncode == 0, again.stderr
    assert f"namespace {namespace} exists" in again.stdout

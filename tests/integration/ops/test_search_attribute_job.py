"""The compose stack's search-attribute job, run for real against a Temporal dev server."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from builder.stack.temporal import TemporalDevServer, temporal_executable

SCRIPT = Path(__file__).resolve().parents[3] / "deploy/temporal/register-search-attributes.sh"


def run_job(server: TemporalDevServer, attributes: str) -> subprocess.CompletedProcess[str]:
    bin_dir = str(Path(temporal_executable()).parent)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": "default",
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

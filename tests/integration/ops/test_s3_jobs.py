"""The compose stack's S3 one-shot jobs, run for real: identities file and bucket creation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from tests.fixtures.s3 import S3Endpoint

ROOT = Path(__file__).resolve().parents[3]


def test_identities_limit_builder_to_its_bucket_and_keep_secrets_out_of_the_repo(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "S3_CONFIG_DIR": str(tmp_path),
        "S3_ADMIN_ACCESS_KEY_ID": "admin-id",
        "S3_ADMIN_SECRET_ACCESS_KEY": "admin-secret-value",
        "ARTIFACT_BUCKET": "artifacts-x",
        "ARTIFACT_ACCESS_KEY_ID": "builder-id",
        "ARTIFACT_SECRET_ACCESS_KEY": "builder-secret-value",
    }
    done = subprocess.run(
        ["sh", str(ROOT / "deploy/s3/s3-config.sh")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "secret" not in done.stdout
    config = json.loads((tmp_path / "s3.json").read_text())
    builder = next(i for i in config["identities"] if i["name"] == "builder")
    assert builder["credentials"] == [
        {"accessKey": "builder-id", "secretKey": "builder-secret-value"}
    ]
    assert all(action.endswith(":artifacts-x") for action in builder["actions"])
    assert not any(action.startswith("Admin") for action in builder["actions"])

    missing = subprocess.run(
        ["sh", str(ROOT / "deploy/s3/s3-config.sh")],
        env={**env, "ARTIFACT_SECRET_ACCESS_KEY": ""}, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0


def test_bucket_job_creates_the_bucket_once_and_then_finds_it(s3_endpoint: S3Endpoint) -> None:
    bucket = f"job-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "S3_URL": s3_endpoint.endpoint_url,
        "S3_ADMIN_ACCESS_KEY_ID": s3_endpoint.access_key,
        "S3_ADMIN_SECRET_ACCESS_KEY": s3_endpoint.secret_key,
        "ARTIFACT_BUCKET": bucket,
    }
    script = str(ROOT / "deploy/s3/create-bucket.py")
    first = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"bucket {bucket} created"
    again = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"bucket {bucket} exists"

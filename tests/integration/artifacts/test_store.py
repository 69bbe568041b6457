"""Both artifact store backends pass the same suite: round trips, big streams, deletes."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import boto3
import httpx
import pytest

from domain.errors import ValidationFailed
from persistence.artifacts import BlobNotFound, open_store
from persistence.artifacts.local import LocalArtifactStore
from persistence.artifacts.s3 import S3ArtifactStore
from persistence.artifacts.store import ArtifactStore
from tests.fixtures.s3 import S3Endpoint

MB = 1024 * 1024


async def _read(store: ArtifactStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.get_stream(key)])


async def test_bytes_round_trip_with_size_and_checksum(artifact_store: ArtifactStore) -> None:
    data = b"build log line\n" * 1000
    blob = await artifact_store.put_bytes("t/e/a/build.log", data, "text/plain")
    assert blob.size == len(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert await _read(artifact_store, "t/e/a/build.log") == data
    assert await artifact_store.exists("t/e/a/build.log")


async def test_twenty_megabytes_stream_round_trip_in_bounded_memory(
    artifact_store: ArtifactStore,
) -> None:
    total, chunk_size = 20 * MB, 256 * 1024
    produced = hashlib.sha256()

    async def source() -> AsyncIterator[bytes]:
        for _ in range(total // chunk_size):
            chunk = os.urandom(chunk_size)
            produced.update(chunk)
            yield chunk

    # the S3 client loads its service model (~10 MB) once per session: a one-time cost
    # unrelated to artifact size, so it is paid before measuring
    await artifact_store.exists("t/e/a/warm-up")
    tracemalloc.start()
    try:
        blob = await artifact_store.put_stream(
            "t/e/a/big.bin", source(), "application/octet-stream"
        )
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read_back = hashlib.sha256()
        size = 0
        async for chunk in artifact_store.get_stream("t/e/a/big.bin"):
            read_back.update(chunk)
            size += len(chunk)
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert blob.size == size == total
    assert blob.sha256 == read_back.hexdigest() == produced.hexdigest()
    # a store that buffered the whole artifact would peak above 20 MB
    assert upload_peak < 12 * MB, f"upload peaked at {upload_peak / MB:.1f} MB"
    assert download_peak < 6 * MB, f"download peaked at {download_peak / MB:.1f} MB"


async def test_stream_just_over_one_part_round_trips(artifact_store: ArtifactStore) -> None:
    # exercises the multipart path's short last part on S3 (5 MiB parts)
    data = os.urandom(5 * MB + 3)

    async def source() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MB):
            yield data[start : start + MB]

    blob = await artifact_store.put_stream("t/e/a/part.bin", source(), "application/octet-stream")
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert await _read(artifact_store, "t/e/a/part.bin") == data


async def test_retried_put_replaces_the_blob(artifact_store: ArtifactStore) -> None:
    await artifact_store.put_bytes("t/e/a/plan.json", b"first", "application/json")
    again = await artifact_store.put_bytes("t/e/a/plan.json", b"second", "application/json")
    assert again.size == 6
    assert await _read(artifact_store, "t/e/a/plan.json") == b"second"


async def test_delete_removes_the_blob_and_is_idempotent(artifact_store: ArtifactStore) -> None:
    await artifact_store.put_bytes("t/e/a/x.txt", b"x", "text/plain")
    await artifact_store.delete("t/e/a/x.txt")
    await artifact_store.delete("t/e/a/x.txt")
    assert not await artifact_store.exists("t/e/a/x.txt")
    with pytest.raises(BlobNotFound, match=r"t/e/a/x\.txt"):
        await _read(artifact_store, "t/e/a/x.txt")


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a//b", "a/./b", "a/../../b", ""])
async def test_keys_that_could_escape_the_store_are_refused(
    artifact_store: ArtifactStore, key: str
) -> None:
    with pytest.raises(ValidationFailed, match="storage key"):
        await artifact_store.put_bytes(key, b"x", "text/plain")


async def test_download_url_is_presigned_on_s3_and_absent_locally(
    artifact_store: ArtifactStore,
) -> None:
    await artifact_store.put_bytes("t/e/a/report.xml", b"<testsuite/>", "application/xml")
    url = await artifact_store.download_url("t/e/a/report.xml", timedelta(minutes=5))
    if isinstance(artifact_store, LocalArtifactStore):
        assert url is None
    else:
        assert url is not None and "Signature=" in url
        async with httpx.AsyncClient() as client:
            response = await client.get(url)
        assert response.status_code == 200
        assert response.content == b"<testsuite/>"


def test_open_store_understands_file_and_s3_urls(tmp_path: Path) -> None:
    local = open_store(f"file://{tmp_path}/artifacts")
    assert isinstance(local, LocalArtifactStore) and local.root == tmp_path / "artifacts"
    remote = open_store("s3://bucket/some/prefix", endpoint_url="http://127.0.0.1:9000")
    assert isinstance(remote, S3ArtifactStore)
    assert (remote.bucket, remote.prefix, remote.url) == (
        "bucket",
        "some/prefix",
        "s3://bucket/some/prefix",
    )
    for bad in ("http://example.com/x", "s3:///nobucket", "file://host/path"):
        with pytest.raises(ValueError, match="artifact URL"):
            open_store(bad)


async def test_a_stream_failing_midway_leaves_no_blob_behind(
    artifact_store: ArtifactStore, request: pytest.FixtureRequest
) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield os.urandom(MB)
        raise ConnectionResetError("producer died")

    with pytest.raises(ConnectionResetError):
        await artifact_store.put_stream("t/e/a/half.bin", broken(), "application/octet-stream")
    assert not await artifact_store.exists("t/e/a/half.bin")
    if isinstance(artifact_store, LocalArtifactStore):
        leftovers = [p for p in artifact_store.root.rglob("*") if p.is_file()]
        assert leftovers == []
    else:
        assert isinstance(artifact_store, S3ArtifactStore)
        endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
        client = boto3.client(
            "s3",
            endpoint_url=endpoint.endpoint_url,
            region_name=endpoint.region,
            aws_access_key_id=endpoint.access_key,
            aws_secret_access_key=endpoint.secret_key,
        )
        # the multipart upload was aborted: no orphaned parts keep costing storage
        uploads = client.list_multipart_uploads(
            Bucket=artifact_store.bucket, Prefix=artifact_store.prefix
        )
        assert uploads.get("Uploads", []) == []


async def test_a_local_write_that_cannot_land_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    (tmp_path / "t" / "e" / "a" / "log.txt").mkdir(parents=True)  # the name is taken
    with pytest.raises(OSError):
        await store.put_bytes("t/e/a/log.txt", b"some output", "text/plain")
    assert [p.name for p in (tmp_path / "t" / "e" / "a").iterdir()] == ["log.txt"]
    blob = await store.put_bytes("t/e/a/other.txt", b"some output", "text/plain")
    assert (blob.size, blob.sha256) == (11, hashlib.sha256(b"some output").hexdigest())
    assert await _read(store, "t/e/a/other.txt") == b"some output"

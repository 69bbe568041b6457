"""The artifact store interface: blobs by key, written from bytes or streams, read as streams.

Two backends implement it, a local directory (`file://`, the dev default) and S3-compatible
object storage (`s3://bucket/prefix`). Keys are always built by `ArtifactService` from ids
and a validated name; the backends still refuse keys that could escape their root.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from domain.errors import FieldError, ValidationFailed

CHUNK_SIZE = 1024 * 1024
"""Read size of streams: big enough to be fast, small enough to keep memory bounded."""


@dataclass(frozen=True)
class StoredBlob:
    """What a put wrote: the key, its size in bytes and its SHA-256 (hex)."""

    key: str
    size: int
    sha256: str


class BlobNotFound(LookupError):
    """The key names no blob in the store."""


@runtime_checkable
class ArtifactStore(Protocol):
    """Blob storage of artifacts; every method is safe to retry."""

    url: str

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredBlob: ...

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> StoredBlob: ...

    def get_stream(self, key: str) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def download_url(self, key: str, expires: timedelta) -> str | None: ...


def check_key(key: str) -> str:
    """`key` when it is a relative path of plain segments, else ValidationFailed."""
    segments = key.split("/")
    if (
        not key
        or len(key) > 1024
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(s in ("", ".", "..") for s in segments)
    ):
        raise ValidationFailed([FieldError("key", f"artifact storage key {key!r} is not valid")])
    return key


class Digest:
    """Size and SHA-256 of a stream as it passes through, in constant memory."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def blob(self, key: str) -> StoredBlob:
        return StoredBlob(key=key, size=self.size, sha256=self._hash.hexdigest())


def open_store(url: str, **options: Any) -> ArtifactStore:
    """The store of `url`: `file:///abs/path` or `s3://bucket[/prefix]`.

    S3 options: endpoint_url, region, aws_access_key_id, aws_secret_access_key, part_size.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"artifact URL {url!r}: file URLs must be file:///absolute/path")
        from persistence.artifacts.local import LocalArtifactStore

        return LocalArtifactStore(unquote(parts.path), **options)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"artifact URL {url!r} names no bucket")
        from persistence.artifacts.s3 import S3ArtifactStore

        return S3ArtifactStore(parts.netloc, parts.path.strip("/"), **options)
    raise ValueError(f"artifact URL {url!r} must start with file:// or s3://")

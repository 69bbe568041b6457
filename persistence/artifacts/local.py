"""Artifact store on a local directory (`file://`), the dev default.

Writes go to a temporary file in the target directory and are renamed into place, so a
reader never sees half a blob and a retried put simply replaces it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import IO

from persistence.artifacts.store import CHUNK_SIZE, BlobNotFound, Digest, StoredBlob, check_key


class LocalArtifactStore:
    """Blobs as files under `root`; downloads are streamed by the API (no URL)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.url = f"file://{self.root}"

    def __repr__(self) -> str:
        return f"LocalArtifactStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # symlinks inside the root must not lead out of it either
        if not path.is_relative_to(self.root):
            raise ValueError(f"artifact key {key!r} resolves outside the store")
        return path

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredBlob:
        path = self._path(key)
        digest = Digest()
        # hash and write in one thread hop: each hop costs a turn of a busy event loop
        await asyncio.to_thread(_write_whole, path, data, digest)
        return digest.blob(key)

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> StoredBlob:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
        digest = Digest()
        handle: IO[bytes] = await asyncio.to_thread(open, temporary, "wb")
        try:
            async for chunk in chunks:
                if chunk:
                    digest.update(chunk)
                    await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_flush_and_sync, handle)
            handle.close()
            await asyncio.to_thread(os.replace, temporary, path)
        except BaseException:
            handle.close()
            temporary.unlink(missing_ok=True)
            raise
        return digest.blob(key)

    async def get_stream(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle: IO[bytes] = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"artifact blob {key!r} does not exist") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK_SIZE):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        # drop now-empty <tenant>/<execution>/<artifact> directories, never the root
        parent = path.parent
        while parent != self.root:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def download_url(self, key: str, expires: timedelta) -> str | None:
        # no server to hand out URLs: the API streams local blobs itself
        return None


def _write_whole(path: Path, data: bytes, digest: Digest) -> None:
    """`data` at `path`, atomically: a temporary file, its content synced, then renamed
    over the name (as put_stream does)."""
    digest.update(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            _flush_and_sync(handle)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _flush_and_sync(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())

"""Artifact store on S3-compatible object storage (AWS S3, MinIO, moto) via aioboto3.

Streams are uploaded in parts of `part_size` bytes (multipart upload), so memory stays
bounded by about two parts whatever the artifact size; small blobs take a single PUT.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, suppress
from datetime import timedelta
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError
from pydantic import SecretStr

from persistence.artifacts.store import CHUNK_SIZE, BlobNotFound, Digest, StoredBlob, check_key

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3's smallest allowed part (all but the last); also our default, to bound memory."""

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _secret(value: str | SecretStr | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class S3ArtifactStore:
    """Blobs as objects `<prefix>/<key>` in `bucket`; downloads are presigned URLs.

    Credentials come from the arguments when given, else the usual AWS environment
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, profiles, instance roles).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        aws_access_key_id: str | SecretStr | None = None,
        aws_secret_access_key: str | SecretStr | None = None,
        part_size: int = MIN_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size {part_size} is below the S3 minimum {MIN_PART_SIZE}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_size = part_size
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._session = aioboto3.Session(
            aws_access_key_id=_secret(aws_access_key_id),
            aws_secret_access_key=_secret(aws_secret_access_key),
            region_name=region,
        )
        # checksums only when required: MinIO and older S3-compatible servers reject the rest
        self._config = Config(
            signature_version="s3v4",
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
        )

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.url!r}, endpoint_url={self.endpoint_url!r})"

    def _client(self) -> AbstractAsyncContextManager[Any]:
        return self._session.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=self._config
        )

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put_bytes(self, key: str, data: bytes, content_type: str) -> StoredBlob:
        async def once() -> AsyncIterator[bytes]:
            yield data

        return await self.put_stream(key, once(), content_type)

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> StoredBlob:
        object_key = self._object_key(key)
        digest = Digest()
        # parts are assembled in a BytesIO that is closed after each upload: closing frees
        # the buffer even while botocore's request objects still reference it
        part = io.BytesIO()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        async with self._client() as client:
            try:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    digest.update(chunk)
                    part.write(chunk)
                    if part.tell() < self.part_size:
                        continue
                    if upload_id is None:
                        created = await client.create_multipart_upload(
                            Bucket=self.bucket, Key=object_key, ContentType=content_type
                        )
                        upload_id = created["UploadId"]
                    parts.append(
                        await self._upload_part(client, object_key, upload_id, parts, part)
                    )
                    part = io.BytesIO()
                if upload_id is None:
                    part.seek(0)
                    await client.put_object(
                        Bucket=self.bucket, Key=object_key, Body=part, ContentType=content_type
                    )
                    return digest.blob(key)
                if part.tell():
                    parts.append(
                        await self._upload_part(client, object_key, upload_id, parts, part)
                    )
                await client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=object_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                # leave no orphaned parts billing storage behind
                if upload_id is not None:
                    with suppress(ClientError):
                        await client.abort_multipart_upload(
                            Bucket=self.bucket, Key=object_key, UploadId=upload_id
                        )
                raise
            finally:
                part.close()
        return digest.blob(key)

    async def _upload_part(
        self,
        client: Any,
        object_key: str,
        upload_id: str,
        done: list[dict[str, Any]],
        part: io.BytesIO,
    ) -> dict[str, Any]:
        number = len(done) + 1
        part.seek(0)
        try:
            result = await client.upload_part(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=part
            )
        finally:
            part.close()
        return {"PartNumber": number, "ETag": result["ETag"]}

    async def get_stream(self, key: str) -> AsyncIterator[bytes]:
        object_key = self._object_key(key)
        async with self._client() as client:
            try:
                response = await client.get_object(Bucket=self.bucket, Key=object_key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _MISSING:
                    raise BlobNotFound(f"artifact blob {key!r} does not exist") from None
                raise
            body = response["Body"]
            try:
                async for chunk in body.iter_chunks(CHUNK_SIZE):
                    yield chunk
            finally:
                # a reader that stops early must not leave the connection half-read
                body.close()

    async def delete(self, key: str) -> None:
        object_key = self._object_key(key)
        async with self._client() as client:
            await client.delete_object(Bucket=self.bucket, Key=object_key)

    async def exists(self, key: str) -> bool:
        object_key = self._object_key(key)
        async with self._client() as client:
            try:
                await client.head_object(Bucket=self.bucket, Key=object_key)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _MISSING:
                    return False
                raise
        return True

    async def download_url(self, key: str, expires: timedelta) -> str | None:
        object_key = self._object_key(key)
        async with self._client() as client:
            url: str = await client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": object_key},
                ExpiresIn=max(1, int(expires.total_seconds())),
            )
        return url

"""A process with tracing configured, as `builder api`/`builder worker` would have it: it
serves one FastAPI request through httpx, runs a query, writes an S3 object and runs a
workflow through builder's Temporal client, then flushes its spans.

Run as a subprocess by test_worker_observability.py: OpenTelemetry's provider and the
library instrumentation are process-wide, so they must not leak into the test session.
    python -m tests.integration.ops.traced_process COLLECTOR TEMPORAL DATABASE S3 BUCKET
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from temporalio.worker import Worker

from builder.observability.tracing import configure_tracing, instrument_app
from builder.settings import Settings
from builder.temporal_connection import connect
from persistence.artifacts.s3 import S3ArtifactStore
from persistence.db import create_engine
from tests.integration.ops.sample_workflow import (
    ObservedWorkflow,
    always_fails,
    count_files,
    greet,
)


async def main(collector: str, temporal: str, database: str, s3: str, bucket: str) -> None:
    tracing = configure_tracing(collector, "builder-test")
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    instrument_app(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        assert (await client.get("/ping")).status_code == 200
    # httpx's instrumentation wraps the network transports (not ASGITransport): one real
    # request, to the collector, which answers 501 to a GET
    async with httpx.AsyncClient() as client:
        await client.get(collector)

    engine = create_engine(database, pool_size=1, max_overflow=0)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    await engine.dispose()

    store = S3ArtifactStore(
        bucket,
        "traced",
        endpoint_url=s3,
        aws_access_key_id="test-access-key",
        aws_secret_access_key="test-secret-key",
    )
    await store.put_bytes("hello.txt", b"hello", "text/plain")

    client = await connect(Settings(temporal_address=temporal, temporal_envconfig=False))
    queue = f"traced-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[ObservedWorkflow],
            activities=[greet, count_files, always_fails],
            activity_executor=executor,
        ):
            await client.execute_workflow(
                ObservedWorkflow.run, "ops", id=f"traced-{uuid.uuid4()}", task_queue=queue
            )
    assert tracing.flush()
    tracing.shutdown()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))

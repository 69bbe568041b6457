"""Activity metrics and OpenTelemetry traces from a real worker on a real Temporal server."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from temporalio.client import Client
from temporalio.worker import Worker

from builder.observability.metrics import ActivityMetricsInterceptor, BuilderMetrics
from builder.observability.tracing import configure_tracing
from builder.stack.temporal import TemporalDevServer
from tests.fixtures.s3 import S3Endpoint
from tests.integration.ops.sample_workflow import (
    ObservedWorkflow,
    always_fails,
    count_files,
    greet,
)

ROOT = Path(__file__).resolve().parents[3]


class OtlpCollector:
    """A minimal OTLP/HTTP trace receiver: records the span names it is sent."""

    def __init__(self) -> None:
        self.span_names: list[str] = []
        self.scopes: dict[str, list[str]] = {}  # instrumentation scope -> span names
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.paths.append(self.path)
                for resource_spans in request.resource_spans:
                    for scope_spans in resource_spans.scope_spans:
                        names = [s.name for s in scope_spans.spans]
                        collector.span_names.extend(names)
                        collector.scopes.setdefault(scope_spans.scope.name, []).extend(names)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpCollector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def otlp_collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as collector:
        yield collector


def sample(metrics: BuilderMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def run_observed_workflow(client: Client, metrics: BuilderMetrics) -> str:
    queue = f"ops-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[ObservedWorkflow],
            activities=[greet, count_files, always_fails],
            activity_executor=executor,
            interceptors=[ActivityMetricsInterceptor(metrics)],
        ):
            return await client.execute_workflow(
                ObservedWorkflow.run, "ops", id=f"ops-{uuid.uuid4()}", task_queue=queue
            )


async def test_activity_interceptor_counts_and_times_attempts_by_outcome(
    temporal_client: Client,
) -> None:
    metrics = BuilderMetrics()

    assert await run_observed_workflow(temporal_client, metrics) == "hello ops"

    total = "builder_activity_executions_total"
    assert sample(metrics, total, activity="greet", outcome="completed") == 2
    assert sample(metrics, total, activity="count_files", outcome="completed") == 1
    assert sample(metrics, total, activity="always_fails", outcome="failed") == 1
    assert sample(metrics, total, activity="always_fails", outcome="completed") == 0
    durations = "builder_activity_duration_seconds_count"
    assert sample(metrics, durations, activity="greet", outcome="completed") == 2
    assert sample(metrics, "builder_activities_in_progress", activity="greet") == 0


def test_a_traced_process_exports_temporal_http_database_and_s3_spans(
    temporal_server: TemporalDevServer,
    otlp_collector: OtlpCollector,
    database_url: str,
    s3_endpoint: S3Endpoint,
) -> None:
    done = subprocess.run(
        [
            sys.executable, "-m", "tests.integration.ops.traced_process", otlp_collector.url,
            temporal_server.address, database_url, s3_endpoint.endpoint_url, s3_endpoint.bucket,
        ],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    assert set(otlp_collector.paths) == {"/v1/traces"}
    names = set(otlp_collector.span_names)
    # the Temporal SDK's OpenTelemetryPlugin on builder's client and the worker built on it
    assert "StartWorkflow:ObservedWorkflow" in names
    assert "RunWorkflow:ObservedWorkflow" in names
    assert "RunActivity:greet" in names
    assert "RunActivity:always_fails" in names
    scopes = otlp_collector.scopes
    assert "GET /ping" in scopes["opentelemetry.instrumentation.fastapi"]
    assert scopes["opentelemetry.instrumentation.httpx"]
    assert scopes["opentelemetry.instrumentation.sqlalchemy"]
    assert scopes["opentelemetry.instrumentation.asyncpg"]
    assert "S3.PutObject" in scopes["builder"]


def test_tracing_is_a_no_op_without_an_endpoint() -> None:
    tracing = configure_tracing(None)
    assert not tracing.enabled
    assert tracing.plugins == []
    assert tracing.flush()

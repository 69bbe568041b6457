"""A run on a real Temporal server seen from outside: the SDK's metrics on their endpoint,
the execution id on the log lines of its workflow and activities, the executions counter."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError
from temporalio.worker import Worker

from builder.observability.execution_context import ExecutionLogContextInterceptor
from builder.observability.logging import JsonFormatter, RedactionFilter
from builder.observability.metrics import ActivityMetricsInterceptor, BuilderMetrics
from builder.observability.sdk_metrics import install_sdk_metrics
from builder.settings import Settings
from builder.stack.ports import free_port
from builder.stack.temporal import TemporalDevServer
from builder.temporal_connection import connect
from domain.contracts import FeatureExecutionInput
from tests.integration.ops.sample_workflow import (
    FailingWorkflow,
    TrackedWorkflow,
    note,
    record_state,
)

_SDK_METRICS: list[str] = []


def sdk_metrics_url() -> str:
    """The SDK metrics endpoint of this test process (Core binds it once per process)."""
    if not _SDK_METRICS:
        _SDK_METRICS.append(install_sdk_metrics(free_port()))
    return f"http://{_SDK_METRICS[0]}/metrics"


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def run_tracked(server: TemporalDevServer, metrics: BuilderMetrics) -> tuple[str, str, str]:
    """Runs TrackedWorkflow; its execution id, tenant id and the SDK metrics scraped after."""
    url = sdk_metrics_url()  # before the client: the runtime is chosen when it connects
    client = await connect(Settings(temporal_address=server.address, temporal_envconfig=False))
    inp = FeatureExecutionInput(
        execution_id=str(uuid.uuid4()), tenant_id=str(uuid.uuid4()),
        repository_id=str(uuid.uuid4()), title="observed run",
    )  # fmt: skip
    queue = f"tracked-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[TrackedWorkflow],
        activities=[note, record_state],
        interceptors=[ExecutionLogContextInterceptor(), ActivityMetricsInterceptor(metrics)],
    ):
        result = await client.execute_workflow(
            TrackedWorkflow.run, inp, id=f"tracked-{uuid.uuid4()}", task_queue=queue
        )
        assert result == "tracked"
        scraped = httpx.get(url, timeout=10).text
    return inp.execution_id, inp.tenant_id, scraped


async def test_log_lines_of_the_workflow_and_its_activities_carry_the_execution_id(
    temporal_server: TemporalDevServer, json_logs: io.StringIO
) -> None:
    execution_id, tenant_id, _ = await run_tracked(temporal_server, BuilderMetrics())

    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    activity_line = next(line for line in lines if line["message"].startswith("noted tracked"))
    assert activity_line["execution_id"] == execution_id
    assert activity_line["tenant_id"] == tenant_id
    assert activity_line["activity"] == "note"
    workflow_line = next(line for line in lines if line["message"].startswith("tracking observed"))
    assert workflow_line["execution_id"] == execution_id
    assert workflow_line["workflow_id"].startswith("tracked-")


async def test_the_executions_counter_moves_once_when_a_run_records_its_final_state(
    temporal_server: TemporalDevServer,
) -> None:
    metrics = BuilderMetrics()
    await run_tracked(temporal_server, metrics)

    value = metrics.registry.get_sample_value
    assert value("builder_executions_total", {"state": "completed"}) == 1
    assert value("builder_executions_total", {"state": "executing"}) is None


async def test_a_run_emits_the_sdk_metrics_on_their_endpoint(
    temporal_server: TemporalDevServer,
) -> None:
    _, _, scraped = await run_tracked(temporal_server, BuilderMetrics())

    samples = {
        sample.name: sample
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    for name in (
        "temporal_workflow_completed_total",
        "temporal_workflow_task_schedule_to_start_latency_count",
        "temporal_activity_schedule_to_start_latency_count",
        "temporal_worker_task_slots_available",
        "temporal_sticky_cache_size",
    ):
        assert name in samples, f"{name} missing from {sorted(samples)}"
    assert samples["temporal_workflow_completed_total"].value >= 1


DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "builder-dashboard.json"
METRIC_NAME = re.compile(r"\b((?:builder|temporal)_[a-z0-9_]+)\b")


async def test_every_metric_the_grafana_dashboard_queries_is_exported(
    temporal_server: TemporalDevServer,
) -> None:
    metrics = BuilderMetrics()
    _, _, _ = await run_tracked(temporal_server, metrics)
    client = await connect(
        Settings(temporal_address=temporal_server.address, temporal_envconfig=False)
    )
    queue = f"failing-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[FailingWorkflow]):
        with pytest.raises(WorkflowFailureError):
            await client.execute_workflow(
                FailingWorkflow.run, id=f"failing-{uuid.uuid4()}", task_queue=queue
            )
        # a refused request, so the request failure counter exists too
        with pytest.raises(RPCError):
            await client.get_workflow_handle(f"missing-{uuid.uuid4()}").describe()
        scraped = httpx.get(sdk_metrics_url(), timeout=10).text
    metrics.api_requests.labels(route="/x", method="GET", status="200").inc()
    metrics.api_request_duration.labels(route="/x", method="GET").observe(0.1)
    exported = {
        sample.name
        for text in (scraped, metrics.exposition().decode())
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in METRIC_NAME.findall(target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert sorted(queried - exported) == []

"""API request metrics through the ASGI middleware, and the execution outcome counters."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, HTTPException
from prometheus_client.parser import text_string_to_metric_families

from builder.observability.metrics import UNMATCHED_ROUTE, BuilderMetrics, install_metrics
from domain.enums import FeatureState


def sample(metrics: BuilderMetrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def app_with(metrics: BuilderMetrics) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/executions/{execution_id}")
    async def show(execution_id: str) -> dict[str, str]:
        if execution_id == "missing":
            raise HTTPException(status_code=404)
        return {"id": execution_id}

    @app.post("/v1/executions")
    async def create() -> dict[str, str]:
        raise RuntimeError("handler crashed")

    install_metrics(app, metrics)
    return app


async def test_requests_are_counted_by_route_template_method_and_status() -> None:
    metrics = BuilderMetrics()
    transport = httpx.ASGITransport(app=app_with(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for execution_id in ("a", "b", "missing"):
            await client.get(f"/v1/executions/{execution_id}")
        await client.post("/v1/executions")
        await client.get("/no/such/path/123")

    route = "/v1/executions/{execution_id}"
    total = "builder_api_requests_total"
    assert sample(metrics, total, route=route, method="GET", status="200") == 2
    assert sample(metrics, total, route=route, method="GET", status="404") == 1
    assert sample(metrics, total, route="/v1/executions", method="POST", status="500") == 1
    assert sample(metrics, total, route=UNMATCHED_ROUTE, method="GET", status="404") == 1
    count = "builder_api_request_duration_seconds_count"
    assert sample(metrics, count, route=route, method="GET") == 3
    assert sample(metrics, "builder_api_requests_in_progress") == 0


async def test_metrics_endpoint_serves_the_registry_in_prometheus_text_format() -> None:
    metrics = BuilderMetrics()
    transport = httpx.ASGITransport(app=app_with(metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        await client.get("/v1/executions/x")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    requests = families["builder_api_requests"]
    assert any(
        s.labels.get("route") == "/v1/executions/{execution_id}" and s.value == 1
        for s in requests.samples
    )


def test_final_execution_states_are_counted_by_state_label() -> None:
    metrics = BuilderMetrics()
    metrics.record_execution_state(FeatureState.COMPLETED)
    metrics.record_execution_state("completed")
    metrics.record_execution_state(FeatureState.FAILED)

    assert sample(metrics, "builder_executions_total", state="completed") == 2
    assert sample(metrics, "builder_executions_total", state="failed") == 1

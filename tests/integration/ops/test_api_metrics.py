"""The metrics middleware on a real uvicorn server: requests counted, exposed at /metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from builder.observability.metrics import BuilderMetrics, install_metrics
from builder.stack.ports import free_port


@pytest.fixture
def api_url() -> Iterator[str]:
    app = FastAPI()

    @app.get("/v1/repositories/{repository_id}")
    async def show(repository_id: str) -> dict[str, str]:
        return {"id": repository_id}

    install_metrics(app, BuilderMetrics())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 10 s")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_requests_to_a_live_server_show_up_at_its_metrics_endpoint(api_url: str) -> None:
    with httpx.Client(base_url=api_url) as client:
        for repository_id in ("r1", "r2", "r3"):
            assert client.get(f"/v1/repositories/{repository_id}").status_code == 200
        assert client.delete("/v1/repositories/r1").status_code == 405
        scraped = client.get("/metrics")

    assert scraped.status_code == 200
    samples = {
        (s.name, s.labels.get("route"), s.labels.get("method"), s.labels.get("status")): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    route = "/v1/repositories/{repository_id}"
    assert samples[("builder_api_requests_total", route, "GET", "200")] == 3
    assert samples[("builder_api_requests_total", route, "DELETE", "405")] == 1
    assert samples[("builder_api_request_duration_seconds_count", route, "GET", None)] == 3

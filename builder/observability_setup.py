"""One call that gives a builder process its logs, traces and metrics from settings.

The API, the worker and `builder dev` all start through `setup_process`, so every process
logs the same redacted JSON and exports traces the same way.
"""

from __future__ import annotations

import logging
from typing import Literal

from builder.observability.logging import configure_logging
from builder.observability.metrics import start_metrics_server
from builder.observability.sdk_metrics import install_sdk_metrics
from builder.observability.tracing import Tracing, configure_tracing
from builder.settings import Settings

Role = Literal["api", "worker", "dev"]

log = logging.getLogger(__name__)


def setup_process(settings: Settings, role: Role | str) -> Tracing:
    """Configure logging, tracing (when an OTLP endpoint is set) and metrics endpoints.

    Call it before the process connects to Temporal: tracing and SDK metrics attach to the
    clients created afterwards. Returns the `Tracing` so the caller can flush on exit.
    The worker (and the dev stack, which runs a worker) serves builder's Prometheus
    metrics on `settings.worker_metrics_port` when it is set; the API serves them on
    `/metrics`. Any process serves the Temporal SDK's metrics on
    `settings.sdk_metrics_port` when it is set.
    """
    configure_logging(settings.log_level, json=settings.log_json)
    tracing = configure_tracing(settings.otlp_endpoint, service_name=f"builder-{role}")
    # a container publishes the ports, so listen beyond loopback outside dev
    addr = "127.0.0.1" if settings.environment == "dev" else "0.0.0.0"  # noqa: S104
    if role in ("worker", "dev") and settings.worker_metrics_port:
        start_metrics_server(settings.worker_metrics_port, addr=addr)
        log.info("worker metrics on http://%s:%d/metrics", addr, settings.worker_metrics_port)
    if settings.sdk_metrics_port:
        bound = install_sdk_metrics(settings.sdk_metrics_port, addr=addr)
        log.info("Temporal SDK metrics on http://%s/metrics", bound)
    return tracing

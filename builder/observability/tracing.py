"""OpenTelemetry tracing through Temporal, on only when an OTLP endpoint is configured.

With an endpoint, `configure_tracing` builds an SDK tracer provider exporting OTLP/HTTP and
returns `temporalio.contrib.opentelemetry.TracingInterceptor` for the Temporal client (a
worker built from that client inherits it), so a trace follows one request from the API's
workflow start through every activity. Without one it is a no-op and nothing from
opentelemetry is imported, so builder runs without those packages installed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from domain.errors import FieldError, ValidationFailed

OTLP_TRACES_PATH = "/v1/traces"

_global_lock = threading.Lock()
_global_provider_set = False


@dataclass
class Tracing:
    """What configure_tracing set up: interceptors to install and the provider to flush."""

    interceptors: list[Any] = field(default_factory=list)
    provider: Any | None = None

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def flush(self, timeout_millis: int = 5_000) -> bool:
        """Export every finished span now; True when the exporter kept up."""
        return bool(self.provider.force_flush(timeout_millis)) if self.provider else True

    def shutdown(self) -> None:
        """Flush and stop exporting (call on process exit)."""
        if self.provider is not None:
            self.provider.shutdown()


def otlp_traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector base URL (`http://collector:4318`)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed(
            [
                FieldError(
                    "otlp_endpoint",
                    "BUILDER_OTLP_ENDPOINT must be an http(s) URL such as "
                    f"http://collector:4318, got {parts.scheme or 'no'} scheme",
                )
            ]
        )
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + OTLP_TRACES_PATH
    return endpoint


def configure_tracing(
    otlp_endpoint: str | None,
    service_name: str = "builder",
    *,
    set_global: bool = True,
) -> Tracing:
    """Tracing for this process, or a disabled `Tracing` when `otlp_endpoint` is empty.

    `service_name` distinguishes processes in the trace view (builder-api, builder-worker).
    Raises ValidationFailed for a malformed endpoint and a RuntimeError naming the packages
    to install when the OpenTelemetry SDK is missing.
    """
    if not otlp_endpoint:
        return Tracing()
    url = otlp_traces_url(otlp_endpoint)
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError as error:
        raise RuntimeError(
            "tracing needs the OpenTelemetry SDK: "
            "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http "
            f"({error.name} is missing)"
        ) from error

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    if set_global:
        global _global_provider_set
        with _global_lock:
            # OpenTelemetry accepts one global provider per process; later calls keep theirs.
            if not _global_provider_set:
                trace.set_tracer_provider(provider)
                _global_provider_set = True
    interceptor = TracingInterceptor(tracer=provider.get_tracer("builder"))
    return Tracing(interceptors=[interceptor], provider=provider)

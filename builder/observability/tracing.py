"""OpenTelemetry tracing, on only when an OTLP endpoint is configured.

With an endpoint, `configure_tracing` installs one process-wide replay-safe tracer provider
(`temporalio.contrib.opentelemetry.create_tracer_provider`) exporting OTLP/HTTP, and turns
on the Temporal SDK's `OpenTelemetryPlugin` for every client `builder.temporal_connection`
builds (workers built from such a client inherit it), so a trace follows one request from
the API's workflow start through the workflow and every activity. It also instruments the
libraries builder talks through: FastAPI (`instrument_app`), SQLAlchemy and asyncpg
(every query), httpx (forges, LLM providers) and S3 (aiobotocore, patched here: no
OpenTelemetry package instruments its async client). Those come with the `tracing` extra.

Without an endpoint it is a no-op and nothing from opentelemetry is imported, so builder
runs without those packages installed.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from domain.errors import FieldError, ValidationFailed

OTLP_TRACES_PATH = "/v1/traces"
_TRACER_NAME = "builder"

_lock = threading.Lock()
_provider: Any | None = None  # the process's ReplaySafeTracerProvider, once configured
_instrumented = False


@dataclass
class Tracing:
    """One configured exporter: its span processor to flush and stop."""

    processor: Any | None = None

    @property
    def enabled(self) -> bool:
        return self.processor is not None

    @property
    def plugins(self) -> list[Any]:
        """The Temporal client plugins tracing needs (what every builder client gets)."""
        return temporal_plugins() if self.enabled else []

    def flush(self, timeout_millis: int = 5_000) -> bool:
        """Export every finished span now; True when the exporter kept up."""
        return bool(self.processor.force_flush(timeout_millis)) if self.processor else True

    def shutdown(self) -> None:
        """Flush and stop this exporter (call on process exit)."""
        if self.processor is not None:
            self.processor.shutdown()


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


def tracing_enabled() -> bool:
    return _provider is not None


def temporal_plugins() -> list[Any]:
    """`OpenTelemetryPlugin` (with StartWorkflow, RunWorkflow, RunActivity spans) when
    tracing is configured in this process, else nothing."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import OpenTelemetryPlugin

    return [OpenTelemetryPlugin(add_temporal_spans=True)]


def configure_tracing(otlp_endpoint: str | None, service_name: str = "builder") -> Tracing:
    """Export this process's spans to `otlp_endpoint`, or a disabled `Tracing` without one.

    `service_name` distinguishes processes in the trace view (builder-api, builder-worker);
    OpenTelemetry keeps one provider per process, so the first call's name stays and a
    later call adds its exporter to the same provider. Raises ValidationFailed for a
    malformed endpoint and a RuntimeError naming the extra when the packages are missing.
    """
    if not otlp_endpoint:
        return Tracing()
    url = otlp_traces_url(otlp_endpoint)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as error:
        raise RuntimeError(
            f"tracing needs the tracing extra: pip install 'builder[tracing]' "
            f"({error.name} is missing)"
        ) from error
    provider = _process_provider(service_name)
    processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=url))
    provider.add_span_processor(processor)
    _instrument_libraries(provider)
    return Tracing(processor=processor)


def _process_provider(service_name: str) -> Any:
    global _provider
    with _lock:
        if _provider is None:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from temporalio.contrib.opentelemetry import create_tracer_provider

            _provider = create_tracer_provider(
                resource=Resource.create({"service.name": service_name})
            )
            trace.set_tracer_provider(_provider)
        return _provider


def _instrument_libraries(provider: Any) -> None:
    global _instrumented
    with _lock:
        if _instrumented:
            return
        try:
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
            from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        except ImportError as error:
            raise RuntimeError(
                f"tracing needs the tracing extra: pip install 'builder[tracing]' "
                f"({error.name} is missing)"
            ) from error
        # engines created from here on get SQLAlchemy spans (persistence.db looks
        # create_async_engine up at call time); asyncpg spans cover every query anyway.
        # The instrumentation declares sqlalchemy < 2.1 and would silently do nothing on
        # 2.1; it only uses the engine event API, which 2.1 keeps (the test checks).
        SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
        AsyncPGInstrumentor().instrument(tracer_provider=provider)
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        _instrument_aiobotocore(provider)
        _instrumented = True


def instrument_app(app: Any) -> None:
    """Server spans for every FastAPI request, when tracing is configured."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls="healthz,readyz,metrics"
    )


def _instrument_aiobotocore(provider: Any) -> None:
    """A client span around every aiobotocore API call (S3 PutObject, GetObject, ...)."""
    try:
        from aiobotocore.client import AioBaseClient
    except ImportError:  # no S3 support installed: nothing to trace
        return
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = provider.get_tracer(_TRACER_NAME)
    original = AioBaseClient._make_api_call
    if getattr(original, "_builder_traced", False):
        return

    @functools.wraps(original)
    async def traced(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        service = self.meta.service_model.service_id
        attributes = {
            "rpc.system": "aws-api",
            "rpc.service": str(service),
            "rpc.method": operation_name,
            "cloud.region": self.meta.region_name or "",
        }
        if "Bucket" in api_params:
            attributes["aws.s3.bucket"] = str(api_params["Bucket"])
        with tracer.start_as_current_span(
            f"{service}.{operation_name}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            try:
                return await original(self, operation_name, api_params)
            except Exception as error:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise

    traced._builder_traced = True  # type: ignore[attr-defined]
    AioBaseClient._make_api_call = traced

"""Prometheus metrics for the API (requests, latency) and the worker (activities, executions).

All of builder's metrics live in one `BuilderMetrics` bound to a registry: the process uses
the default one (`default_metrics()`), tests make their own so counts do not leak between
them. The API exposes its registry at `/metrics`; the worker serves it on its own port
(`start_metrics_server`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from domain.contracts import RecordStateInput

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Requests that match no route share one label, so a scanner cannot explode cardinality.
UNMATCHED_ROUTE = "<unmatched>"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Activities run from milliseconds (db writes) to half an hour (builds, tests, LLM calls).
_ACTIVITY_BUCKETS = (0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)


@dataclass
class BuilderMetrics:
    """Every metric builder exports, registered on one registry."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.api_requests = Counter(
            "builder_api_requests",
            "HTTP requests handled by the API, by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.api_request_duration = Histogram(
            "builder_api_request_duration_seconds",
            "Time from request start to the end of the response body, by route and method.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.api_requests_in_progress = Gauge(
            "builder_api_requests_in_progress",
            "HTTP requests being handled right now.",
            registry=r,
        )
        self.activity_executions = Counter(
            "builder_activity_executions",
            "Activity attempts finished on this worker, by activity and outcome.",
            ["activity", "outcome"],
            registry=r,
        )
        self.activity_duration = Histogram(
            "builder_activity_duration_seconds",
            "Duration of one activity attempt on this worker, by activity and outcome.",
            ["activity", "outcome"],
            buckets=_ACTIVITY_BUCKETS,
            registry=r,
        )
        self.activities_in_progress = Gauge(
            "builder_activities_in_progress",
            "Activity attempts running on this worker right now, by activity.",
            ["activity"],
            registry=r,
        )
        self.executions = Counter(
            "builder_executions",
            "Feature executions that reached a final state, by state.",
            ["state"],
            registry=r,
        )

    def record_execution_state(self, state: str | Enum) -> None:
        """Count one execution that ended in `state` (FeatureState or its label)."""
        self.executions.labels(state=_state_label(state)).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


def _state_label(state: str | Enum) -> str:
    # FeatureState is an IntEnum; its seed name (`completed`) is the readable label.
    if isinstance(state, Enum):
        return str(getattr(state, "label", state.name.lower()))
    return state


_DEFAULT: BuilderMetrics | None = None


def default_metrics() -> BuilderMetrics:
    """The process-wide metrics, on prometheus_client's default registry."""
    global _DEFAULT
    if _DEFAULT is None:
        from prometheus_client import REGISTRY

        _DEFAULT = BuilderMetrics(registry=REGISTRY)
    return _DEFAULT


def record_execution_state(state: str | Enum) -> None:
    """default_metrics().record_execution_state."""
    default_metrics().record_execution_state(state)


# --- API -------------------------------------------------------------------------------


class MetricsMiddleware:
    """Pure ASGI middleware counting requests and timing them until the body is sent.

    Pure ASGI (not BaseHTTPMiddleware) so streamed responses such as the event stream pass
    through untouched. The route label is the matched route's template
    (`/v1/executions/{execution_id}`), never the raw path.
    """

    def __init__(self, app: ASGIApp, metrics: BuilderMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics or default_metrics()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.api_requests_in_progress.inc()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.api_requests_in_progress.dec()
            route = _route_template(scope)
            method = str(scope.get("method", "GET"))
            self.metrics.api_requests.labels(route=route, method=method, status=str(status)).inc()
            self.metrics.api_request_duration.labels(route=route, method=method).observe(
                time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    # Starlette's router writes the matched route into the (shared) scope dict.
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        return f"{scope.get('root_path', '')}{path}"
    return UNMATCHED_ROUTE


def metrics_endpoint(
    metrics: BuilderMetrics | None = None,
) -> Callable[[Any], Awaitable[Any]]:
    """A Starlette/FastAPI endpoint serving `metrics` in Prometheus text format.

    Use: `app.add_route("/metrics", metrics_endpoint(m), include_in_schema=False)`.
    """
    from starlette.responses import Response

    chosen = metrics or default_metrics()

    async def endpoint(_request: Any) -> Response:
        return Response(chosen.exposition(), media_type=CONTENT_TYPE_LATEST)

    return endpoint


def install_metrics(
    app: Any, metrics: BuilderMetrics | None = None, path: str = "/metrics"
) -> None:
    """Add MetricsMiddleware and the `/metrics` route to a FastAPI/Starlette app."""
    chosen = metrics or default_metrics()
    app.add_middleware(MetricsMiddleware, metrics=chosen)
    app.add_route(path, metrics_endpoint(chosen), methods=["GET"], include_in_schema=False)


# --- worker ----------------------------------------------------------------------------


def start_metrics_server(
    port: int, addr: str = "127.0.0.1", metrics: BuilderMetrics | None = None
) -> None:
    """Serve the worker's metrics at http://addr:port/metrics from a daemon thread.

    In a container pass addr="0.0.0.0" so Prometheus can reach it from outside.
    """
    start_http_server(port, addr=addr, registry=(metrics or default_metrics()).registry)


class ActivityMetricsInterceptor(Interceptor):
    """Temporal worker interceptor timing every activity attempt by name and outcome.

    Outcomes: `completed`, `failed`, `cancelled`. Pass it in `Worker(interceptors=[...])`.
    It also counts executions as they end: a final state is persisted only by an activity
    carrying the change (`record_state`, or `release_lock` recording it with the release),
    so each completed attempt carrying a terminal state is one execution ending (a retry
    after a lost completion could count one twice; Temporal's
    `temporal_workflow_completed_total` is the cross-check).
    """

    def __init__(self, metrics: BuilderMetrics | None = None) -> None:
        self.metrics = metrics or default_metrics()

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetricsInbound(next, self.metrics)


class _ActivityMetricsInbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: BuilderMetrics) -> None:
        super().__init__(next)
        self._metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        outcome = "failed"
        started = time.perf_counter()
        in_progress = self._metrics.activities_in_progress.labels(activity=name)
        in_progress.inc()
        try:
            result = await super().execute_activity(input)
            outcome = "completed"
            self._count_final_state(input.args)
            return result
        except BaseException as error:
            outcome = "cancelled" if _is_cancellation(error) else "failed"
            raise
        finally:
            in_progress.dec()
            self._metrics.activity_executions.labels(activity=name, outcome=outcome).inc()
            self._metrics.activity_duration.labels(activity=name, outcome=outcome).observe(
                time.perf_counter() - started
            )

    def _count_final_state(self, args: Any) -> None:
        arg = args[0] if args else None
        change = arg if isinstance(arg, RecordStateInput) else getattr(arg, "state", None)
        if isinstance(change, RecordStateInput) and change.state.is_terminal:
            self._metrics.record_execution_state(change.state)


def _is_cancellation(error: BaseException) -> bool:
    return isinstance(error, CancelledError | asyncio.CancelledError)

"""The Temporal SDK's own metrics (task slots, schedule-to-start latency, sticky cache,
poll and request failures, workflow end-to-end latency) as a Prometheus endpoint.

The SDK's Core exports them from its own HTTP server, configured on the process's default
`temporalio.runtime.Runtime`; `install_sdk_metrics` sets that runtime before any client
connects, so every client and worker of the process reports there. Names carry the
`temporal_` prefix and `_total` on counters; durations are in seconds.
"""

from __future__ import annotations

import threading

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

_lock = threading.Lock()
_bound: str | None = None


def install_sdk_metrics(port: int, addr: str = "127.0.0.1") -> str:
    """Serve SDK metrics at http://addr:port/metrics; idempotent for the same address.

    Returns the bind address. Raises RuntimeError when the process already serves them
    elsewhere (Core binds its server once per runtime).
    """
    global _bound
    bind = f"{addr}:{port}"
    with _lock:
        if _bound == bind:
            return bind
        if _bound is not None:
            raise RuntimeError(f"Temporal SDK metrics are already served on {_bound}")
        runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=bind, counters_total_suffix=True, durations_as_seconds=True
                )
            )
        )
        Runtime.set_default(runtime, error_if_already_set=False)
        _bound = bind
        return bind

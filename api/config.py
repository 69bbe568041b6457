"""Configuration of the API facade: a frozen dataclass the composition root fills from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from activities.webhooks.destinations import DestinationPolicy
from domain.contracts import TASK_QUEUE
from domain.remote_urls import RemotePolicy


@dataclass(frozen=True)
class ApiConfig:
    """Limits and behaviour of the HTTP API."""

    rate_limit_per_minute: int = 600
    max_body_bytes: int = 2 * 1024 * 1024
    default_page_size: int = 20
    max_page_size: int = 100
    # which repository URLs registration accepts (the worker applies the same policy)
    remotes: RemotePolicy = field(default_factory=RemotePolicy)
    wait_for_lock: bool = False
    # the queue workers poll (BUILDER_TASK_QUEUE); workflows start there
    task_queue: str = TASK_QUEUE
    # the llm engine is refused at the edge when no model is configured
    llm_model: str | None = None
    auth_cache_seconds: float = 30.0
    sse_heartbeat_seconds: float = 15.0
    presigned_url_ttl: timedelta = timedelta(minutes=10)
    temporal_rpc_timeout: timedelta = timedelta(seconds=10)
    readiness_timeout_seconds: float = 3.0
    producer_id: str = "api"
    # the default per-tenant concurrency limit (BUILDER_TENANT_MAX_CONCURRENT_EXECUTIONS),
    # shown by GET /v1/limits; the workers enforce it
    tenant_max_concurrent_executions: int | None = None
    # where webhook subscriptions may point; the default refuses private and loopback hosts
    webhooks: DestinationPolicy = field(default_factory=DestinationPolicy)

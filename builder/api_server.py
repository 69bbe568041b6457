"""The API process's composition root: settings in, a served FastAPI app out."""

from __future__ import annotations

import asyncio

import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from activities.git.remote_url import policy_of
from api.app import create_app
from api.config import ApiConfig
from api.deps import ApiDeps, LazyTemporalClient
from builder.deps import artifact_store, git_config, keyring_of
from builder.git_probe import GitRemoteProbe
from builder.observability.metrics import install_metrics
from builder.observability.tracing import instrument_app
from builder.settings import Settings
from builder.temporal_connection import connect, resolve_connection
from builder.webhooks import destination_policy
from persistence.db import create_engine, session_factory


def api_config(settings: Settings) -> ApiConfig:
    return ApiConfig(
        rate_limit_per_minute=settings.api_rate_limit_per_minute,
        max_body_bytes=settings.api_max_body_bytes,
        remotes=policy_of(git_config(settings)),
        wait_for_lock=settings.lock_wait,
        task_queue=settings.task_queue,
        llm_model=settings.llm_model if settings.llm_provider else None,
        webhooks=destination_policy(settings),
        tenant_max_concurrent_executions=settings.tenant_max_concurrent_executions or None,
    )


def build_api_deps(settings: Settings) -> ApiDeps:
    """Sessions, lazy Temporal client, artifact store and keyring of the API process.

    Nothing connects here: the engine's pool and the Temporal client connect on first use,
    so the API starts (and answers /healthz) while its dependencies come up.
    """
    if not settings.database_url:
        raise RuntimeError("no database configured: set BUILDER_DATABASE_URL")
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        application_name="builder-api",
    )
    return ApiDeps(
        sessions=session_factory(engine),
        temporal=_lazy_temporal_client(settings),
        artifacts=artifact_store(settings),
        keyring=keyring_of(settings),
        database_url=settings.database_url,
        config=api_config(settings),
        remote_probe=GitRemoteProbe(git_config(settings)),
    )


def _lazy_temporal_client(settings: Settings) -> LazyTemporalClient:
    conn = resolve_connection(settings)  # a bad profile fails the start, not a request

    async def connect_now() -> Client:
        return await connect(settings)

    return LazyTemporalClient(conn.address, conn.namespace, connect=connect_now)


def create_app_from_settings(settings: Settings) -> FastAPI:
    """The API app with Prometheus metrics at /metrics (and request spans when tracing)."""
    app = create_app(build_api_deps(settings))
    install_metrics(app)
    instrument_app(app)
    return app


def uvicorn_server(
    settings: Settings, host: str | None = None, port: int | None = None
) -> uvicorn.Server:
    """A uvicorn server for the app; log_config=None keeps builder's JSON logging."""
    config = uvicorn.Config(
        create_app_from_settings(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


async def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API until SIGINT/SIGTERM (uvicorn installs the handlers)."""
    from builder.observability_setup import setup_process

    tracing = setup_process(settings, "api")
    try:
        await uvicorn_server(settings, host, port).serve()
    finally:
        await asyncio.to_thread(tracing.shutdown)

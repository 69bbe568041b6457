"""How every builder process reaches Temporal: one place resolves the settings and connects.

The connection comes from Temporal's environment configuration (`temporalio.envconfig`),
the same sources the `temporal` CLI reads, so one profile serves both:

1. a TOML profile: the file `TEMPORAL_CONFIG_FILE` or `BUILDER_TEMPORAL_CONFIG_FILE` names,
   else `~/.config/temporalio/temporal.toml` when it exists; the profile
   `BUILDER_TEMPORAL_PROFILE` or `TEMPORAL_PROFILE`, else `default`;
2. `TEMPORAL_*` variables over it: `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
   `TEMPORAL_API_KEY`, `TEMPORAL_TLS`, `TEMPORAL_TLS_CLIENT_CERT_PATH`,
   `TEMPORAL_TLS_CLIENT_KEY_PATH`, `TEMPORAL_TLS_SERVER_CA_CERT_PATH`,
   `TEMPORAL_TLS_SERVER_NAME`, `TEMPORAL_GRPC_META_*`;
3. `BUILDER_TEMPORAL_ADDRESS` / `BUILDER_TEMPORAL_NAMESPACE` over both, when set.

With none of them it is a local server on 127.0.0.1:7233, namespace `default`. An API key
turns TLS on (Temporal Cloud); it is registered with the log redaction before use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, Interceptor, Plugin
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import TLSConfig

from builder.settings import Settings


class TemporalConfigError(Exception):
    """The Temporal profile or its files cannot be read; the message names which."""


@dataclass(frozen=True)
class TemporalConnection:
    """Resolved `Client.connect` arguments (repr never shows the API key or key files)."""

    address: str
    namespace: str
    api_key: str | None = field(default=None, repr=False)
    tls: bool | TLSConfig = field(default=False, repr=False)
    rpc_metadata: Mapping[str, str] = field(default_factory=dict, repr=False)

    def describe(self) -> str:
        """For logs and errors: where and how, no secret."""
        how = "TLS" if self.tls else "plaintext"
        if self.api_key:
            how += " with an API key"
        elif isinstance(self.tls, TLSConfig) and self.tls.client_cert:
            how += " with a client certificate"
        return f"{self.address} (namespace {self.namespace}, {how})"


def resolve_connection(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> TemporalConnection:
    """The connection `settings` and the environment describe (see the module docstring)."""
    env = dict(os.environ if environ is None else environ)
    explicit = settings.model_fields_set
    profile: dict[str, Any] = {}
    if settings.temporal_envconfig:
        profile = dict(_load_profile(settings, env).to_client_connect_config())
    address = (
        settings.temporal_address
        if "temporal_address" in explicit or "target_host" not in profile
        else profile["target_host"]
    )
    namespace = (
        settings.temporal_namespace
        if "temporal_namespace" in explicit or "namespace" not in profile
        else profile["namespace"]
    )
    api_key = profile.get("api_key") or None
    if api_key:
        from domain.redaction import register_secret

        register_secret(api_key)
    return TemporalConnection(
        address=address,
        namespace=namespace,
        api_key=api_key,
        tls=profile.get("tls", False),
        rpc_metadata=dict(profile.get("rpc_metadata") or {}),
    )


def _load_profile(settings: Settings, env: dict[str, str]) -> ClientConfigProfile:
    config_file = settings.temporal_config_file or env.get("TEMPORAL_CONFIG_FILE")
    if settings.temporal_profile:
        env["TEMPORAL_PROFILE"] = settings.temporal_profile
    if config_file and not Path(config_file).is_file():
        # envconfig would quietly fall back to localhost; a named file must exist
        raise TemporalConfigError(
            f"cannot load the Temporal connection profile from the file {config_file}: "
            "it does not exist"
        )
    try:
        return ClientConfigProfile.load(
            profile=env.get("TEMPORAL_PROFILE"),
            config_source=Path(config_file) if config_file else None,
            override_env_vars=env,
        )
    except Exception as error:  # the Rust bridge raises plain RuntimeError/ValueError
        where = f"the file {config_file}" if config_file else "the default profile file"
        raise TemporalConfigError(
            f"cannot load the Temporal connection profile from {where}: {error}"
        ) from error


async def connect(
    settings: Settings,
    *,
    interceptors: Sequence[Interceptor] = (),
    plugins: Sequence[Plugin] = (),
) -> Client:
    """A Temporal client for `settings`, with builder's data converter and tracing plugin."""
    from builder.observability.tracing import temporal_plugins

    conn = resolve_connection(settings)
    return await Client.connect(
        conn.address,
        namespace=conn.namespace,
        api_key=conn.api_key,
        tls=conn.tls,
        rpc_metadata=conn.rpc_metadata,
        data_converter=pydantic_data_converter,
        interceptors=list(interceptors),
        plugins=[*temporal_plugins(), *plugins],
    )

"""Settings from the environment (prefix BUILDER_) and an optional .env file.

Engines never import this module: the composition root turns settings into the small
config objects each engine takes, so engines stay testable without the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    return Path.home() / ".builder"


class Settings(BaseSettings):
    """Every knob of builder; defaults suit the embedded dev stack."""

    model_config = SettingsConfigDict(env_prefix="BUILDER_", env_file=".env", extra="ignore")

    environment: str = Field(default="dev", description="dev, test or production")
    state_dir: Path = Field(default_factory=_default_state_dir)

    # Postgres
    database_url: str | None = None
    # connections the pool keeps: an overflow connection is closed when it is returned to
    # a pool that already holds pool_size idle ones, so under concurrency beyond the pool
    # checkouts kept opening new connections (a connect, authentication, asyncpg's type
    # setup: 309 per 2,000 appends at 30 writers with 10 + 20); the whole peak is kept
    database_pool_size: int = 30
    database_max_overflow: int = 0

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "builder"
    worker_id: str | None = None
    worker_max_activities: int = 200
    worker_max_workflow_tasks: int = 100
    # Worker Versioning: both set -> this worker polls as that version of that deployment
    worker_deployment_name: str | None = None
    worker_build_id: str | None = None
    # what a run started on this version does when a newer version becomes current
    worker_versioning_behavior: Literal["auto_upgrade", "pinned"] = "auto_upgrade"
    # Connection profile (temporalio.envconfig; TEMPORAL_* variables apply on top of it)
    temporal_profile: str | None = None
    temporal_config_file: Path | None = None
    temporal_envconfig: bool = Field(
        default=True, description="read the profile and TEMPORAL_* (builder dev turns it off)"
    )

    # Where clients reach the API (https://builder.example.com): the execution link in pull
    # request bodies; without it the body names the execution id only
    public_url: str | None = None

    # Artifacts: file:///path or s3://bucket/prefix
    artifact_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    artifact_inline_patch_limit: int = 64 * 1024

    # Credential vault keyring: "id1:base64key,id2:base64key"; primary is used to encrypt
    vault_keys: SecretStr | None = None
    vault_key_file: Path | None = None
    vault_primary_key_id: str | None = None

    # Git
    git_author_name: str = "builder"
    git_author_email: str = "builder@localhost"
    allow_local_remotes: bool = False
    denied_hosts: list[str] = Field(default_factory=list)
    workspace_dir: Path | None = None
    mirror_cache_max_bytes: int = 20 * 1024**3
    # released worktrees kept per (tenant, repository) for the next execution to take over
    warm_worktrees_per_repository: int = Field(default=8, ge=0, le=256)

    # Sandbox
    sandbox_allow_unsandboxed: bool = False
    # cached setup environments (per tenant and dependency state); default <state>/environments
    environment_dir: Path | None = None
    # the hourly purge keeps the environments under this many bytes, least recently used
    # evicted first, never one in use (0: no size cap, only the age rule)
    environment_max_bytes: int = Field(default=20 * 1024**3, ge=0)
    # the interpreter Python environments are made from (default: the worker's own)
    environment_python: str | None = None
    setup_timeout_seconds: int = 1800
    build_timeout_seconds: int = 1800
    test_timeout_seconds: int = 1800

    # Locks
    lock_ttl_seconds: int = 120
    lock_wait: bool = False

    # Executions one tenant may run at once (0 or unset: unlimited); an operator overrides
    # it per tenant with `builder tenants limit`. Executions beyond it wait in `pending`.
    tenant_max_concurrent_executions: int | None = Field(default=None, ge=0)

    # LLM
    llm_provider: str | None = Field(default=None, description="openai or anthropic")
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_max_tokens_per_execution: int = 2_000_000
    llm_max_cost_usd_per_execution: float | None = None
    # USD per 1,000 tokens by model name: {"gpt-4.1": [0.002, 0.008]} (input, output)
    llm_prices_per_1k: dict[str, tuple[float, float]] = Field(default_factory=dict)

    # Agent engine: the stops of one conversation (tokens and cost are the llm_* budgets)
    agent_max_turns: int = 50
    agent_max_wall_seconds: float = 3600.0
    agent_command_timeout_seconds: float = 300.0
    agent_stuck_repeats: int = 3
    agent_max_repeated_errors: int = 4
    # the model's context window in tokens; 0 = no fitting (old output is still trimmed)
    agent_context_tokens: int = 100_000

    # Observability
    log_level: str = "INFO"
    log_json: bool = True
    otlp_endpoint: str | None = None
    worker_metrics_port: int | None = None
    sdk_metrics_port: int | None = Field(
        default=None, description="Temporal SDK metrics (Prometheus) of this process's clients"
    )

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_rate_limit_per_minute: int = 600
    api_max_body_bytes: int = 2 * 1024 * 1024

    # Webhooks (docs/webhooks.md): the worker runs the dispatcher unless told not to
    webhook_dispatcher: bool = True
    # private, loopback and link-local receivers; None means allowed only in dev
    webhook_allow_private_destinations: bool | None = None
    webhook_timeout_seconds: float = 15.0
    webhook_max_attempts: int = 30
    webhook_backoff_base_seconds: float = 5.0
    webhook_backoff_max_seconds: float = 3600.0
    webhook_lease_margin_seconds: float = 30.0
    webhook_poll_seconds: float = 1.0

    def resolved_state_dir(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return self.state_dir

    def resolved_environment_dir(self) -> Path:
        return self.environment_dir or (self.state_dir / "environments")

    def resolved_workspace_dir(self) -> Path:
        return self.workspace_dir or (self.state_dir / "workspaces")

    def resolved_artifact_url(self) -> str:
        return self.artifact_url or f"file://{self.state_dir / 'artifacts'}"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def webhooks_may_reach_private_addresses(self) -> bool:
        if self.webhook_allow_private_destinations is not None:
            return self.webhook_allow_private_destinations
        return self.environment == "dev"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()

"""The worker's composition root: settings become the clients and engines the pipeline's
activities take (activities never read settings themselves)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from activities.codegen.agent.loop import AgentLimits
from activities.codegen.llm import LLMConfig
from activities.git import GitConfig, GitEngine, default_denied_hosts
from activities.sandbox import SandboxConfig, SandboxRunner
from activities.sandbox.environments import (
    EnvironmentStore,
    default_interpreter,
    interpreter_binds,
)
from builder.settings import Settings
from persistence.artifacts import ArtifactStore, open_store
from persistence.db import create_engine, session_factory
from persistence.vault import Keyring

if TYPE_CHECKING:
    from activities.phases.context import PhaseDeps
    from activities.pipeline import FeaturePipeline


# how the worker's connections show in pg_stat_activity
WORKER_APPLICATION_NAME = "builder-worker"


def git_config(settings: Settings) -> GitConfig:
    state = settings.resolved_state_dir()
    # production refuses loopback, link-local and metadata hosts unless told otherwise;
    # dev and tests talk to git servers on this machine
    denied = tuple(settings.denied_hosts) or (
        default_denied_hosts() if settings.is_production else ()
    )
    return GitConfig(
        workspace_root=settings.resolved_workspace_dir(),
        mirror_root=state / "mirrors",
        mirror_cache_max_bytes=settings.mirror_cache_max_bytes,
        warm_workspaces_per_repository=settings.warm_worktrees_per_repository,
        allow_local_remotes=settings.allow_local_remotes,
        author_name=settings.git_author_name,
        author_email=settings.git_author_email,
        allow_plain_http=not settings.is_production,
        denied_hosts=denied,
    )


def llm_config(settings: Settings) -> LLMConfig | None:
    if not settings.llm_provider or not settings.llm_model:
        return None
    prices = settings.llm_prices_per_1k.get(settings.llm_model, (0.0, 0.0))
    return LLMConfig(
        provider=settings.llm_provider,  # type: ignore[arg-type]
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        max_tokens_budget=settings.llm_max_tokens_per_execution,
        max_cost_usd=settings.llm_max_cost_usd_per_execution,
        price_input_per_1k=prices[0],
        price_output_per_1k=prices[1],
    )


def agent_limits(settings: Settings) -> AgentLimits:
    return AgentLimits(
        max_turns=settings.agent_max_turns,
        max_wall_seconds=settings.agent_max_wall_seconds,
        command_timeout_s=settings.agent_command_timeout_seconds,
        stuck_repeats=settings.agent_stuck_repeats,
        max_repeated_errors=settings.agent_max_repeated_errors,
        context_tokens=settings.agent_context_tokens or None,
    )


def keyring_of(settings: Settings) -> Keyring:
    from persistence.vault import load_or_create_key_file

    if settings.vault_keys or settings.vault_key_file:
        return Keyring.from_config(
            settings.vault_keys.get_secret_value() if settings.vault_keys else None,
            settings.vault_key_file,
            settings.vault_primary_key_id,
        )
    if settings.is_production:
        raise RuntimeError("no vault keys: set BUILDER_VAULT_KEYS or BUILDER_VAULT_KEY_FILE")
    keyring, _ = load_or_create_key_file(settings.resolved_state_dir() / "vault-keys.json")
    return keyring


def artifact_store(settings: Settings) -> ArtifactStore:
    url = settings.resolved_artifact_url()
    if url.startswith("s3://"):
        return open_store(url, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
    return open_store(url)


def build_deps(settings: Settings, worker_queue: str) -> PhaseDeps:
    if not settings.database_url:
        raise RuntimeError("no database configured: set BUILDER_DATABASE_URL")
    db = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        application_name=WORKER_APPLICATION_NAME,
    )
    state = settings.resolved_state_dir()
    interpreter = settings.environment_python or default_interpreter()
    sandbox = SandboxRunner(
        SandboxConfig(
            allow_unsandboxed=settings.sandbox_allow_unsandboxed,
            extra_denied=(str(state),),
            # the interpreter environments are made from runs inside the sandbox
            extra_ro_binds=interpreter_binds(interpreter),
        )
    )
    from activities.phases.context import PhaseDeps
    from activities.phases.environment import EnvironmentSettings

    return PhaseDeps(
        db=db,
        sessions=session_factory(db),
        store=artifact_store(settings),
        keyring=keyring_of(settings),
        git=GitEngine(git_config(settings)),
        sandbox=sandbox,
        llm=llm_config(settings),
        agent=agent_limits(settings),
        worker_queue=worker_queue,
        producer_id=f"worker:{worker_queue}",
        lock_ttl=timedelta(seconds=settings.lock_ttl_seconds),
        setup_timeout_s=settings.setup_timeout_seconds,
        build_timeout_s=settings.build_timeout_seconds,
        test_timeout_s=settings.test_timeout_seconds,
        patch_inline_limit=settings.artifact_inline_patch_limit,
        environments=EnvironmentSettings(
            EnvironmentStore(
                settings.resolved_environment_dir(), max_bytes=settings.environment_max_bytes
            ),
            interpreter,
        ),
        tenant_max_concurrent=settings.tenant_max_concurrent_executions or None,
        public_url=settings.public_url,
    )


def build_pipeline(settings: Settings, *, worker_queue: str) -> FeaturePipeline:
    """The pipeline of a worker process (imported here: the API shares this module)."""
    from activities.pipeline import FeaturePipeline

    return FeaturePipeline(build_deps(settings, worker_queue))

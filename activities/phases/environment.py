"""The repository's environment around verification: set up once per dependency state,
then mounted read-only for every build and test.

For a repository whose setup plan builder can own (Python, Node, Rust, Go), setup creates the
environment at /env (a virtual environment from the worker's interpreter, the project
installed from the worktree with its test dependencies; node_modules, installed by the
repository's own setup command and shown at /workspace/node_modules; the CARGO_HOME
/env/cargo `cargo fetch` fills and the GOMODCACHE /env/go/mod `go mod download` fills, both
read-only and offline later) and runs the repository's setup command with it;
the result is cached per tenant and key (activities/sandbox/environments.py), so a later
execution on the same dependency state skips setup entirely. Other repositories keep the
plain setup command, run before every build.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from activities.sandbox import EnvironmentMount, PhaseResult, SandboxRunner, run_phase
from activities.sandbox.egress import EgressPolicy
from activities.sandbox.environments import EnvironmentStore, Lease, environment_key
from activities.sandbox.go_env import go_environment, with_go_variables
from activities.sandbox.node_env import (
    node_binds,
    node_environment,
    node_identity,
    node_setup_variables,
    prepare_staging,
)
from activities.sandbox.python_env import (
    python_bin,
    python_environment,
    python_variables,
    setup_script,
    uv_executable,
)
from activities.sandbox.rust_env import rust_environment, rust_variables
from domain.repository_configuration import ResolvedConfiguration
from domain.setup_plan import SetupPlan

_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class EnvironmentSettings:
    """Where a worker keeps environments and which interpreter makes Python ones."""

    store: EnvironmentStore
    interpreter: str
    egress: EgressPolicy = field(default_factory=EgressPolicy)


@dataclass
class PreparedEnvironment:
    """What build and test run with, and what setup did to get there."""

    mount: EnvironmentMount | None = None
    env: dict[str, str] = field(default_factory=dict)
    key: str | None = None
    cache_hit: bool = False
    setup: PhaseResult | None = None
    # holds the environment in use (the purge skips it) until `release`
    lease: Lease = field(default_factory=lambda: Lease(None))

    @property
    def cancelled(self) -> bool:
        return self.setup is not None and self.setup.cancelled

    def release(self) -> None:
        """The build or test is done with the environment."""
        self.lease.release()


def prepare_environment(
    settings: EnvironmentSettings | None,
    runner: SandboxRunner,
    *,
    tenant: str,
    repository: str,
    worktree: Path,
    plan: SetupPlan,
    configuration: ResolvedConfiguration,
    setup_timeout_s: float,
    run_plain_setup: bool,
    cancel: threading.Event | None = None,
    on_line: Callable[[str], None] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> PreparedEnvironment:
    """The environment of this worktree: cached, built now, or none (a plain setup command,
    run when `run_plain_setup`). Only setup gets the repository's setup-only `secrets`.
    Raises the setup phase's errors (with `.result`)."""
    env = dict(configuration.env)
    setup = configuration.setup
    # setup's network is the egress proxy, never the worker's network
    egress = _egress(settings, configuration) if setup.allow_network else None
    python = python_environment(plan)
    node = node_environment(plan)
    binds = node_binds(worktree) if node else ()
    rust = rust_environment(plan)
    go = go_environment(plan)
    # a committed node_modules that is not a directory is never mounted over: plain setup
    owned = any(e is not None for e in (python, node, rust, go)) and (node is None or bool(binds))
    if settings is None or not owned or not runner.sandboxed():
        result = None
        if run_plain_setup and setup.command:
            result = run_phase(
                "setup", setup.command, worktree, required=True, timeout_s=setup_timeout_s,
                runner=runner, on_line=on_line, cancel=cancel, env=env, egress=egress,
                secrets=secrets,
            )  # fmt: skip
        return PreparedEnvironment(env=env, setup=result)
    script = setup_script(python, worktree, settings.interpreter, uv_executable()) if python else ""
    # a new secret name can change what setup installs; a new value of one cannot
    names = ",".join(sorted(secrets or {}))
    identity = f"{node_identity()}:{binds}" if node else ""
    key = environment_key(
        tenant, repository, worktree, plan, setup.command, settings.interpreter,
        f"{script}\n{identity}\nsecrets:{names}",
    )  # fmt: skip
    if python:
        path = env.get("PATH") or os.environ.get("PATH") or _DEFAULT_PATH
        env.update(python_variables())
        env["PATH"] = f"{python_bin()}:{path}"
    setup_env = {**env, **(node_setup_variables(node) if node else {})}
    if rust:  # the repository's own variables win
        env = {**rust_variables(setup=False), **env}
        setup_env = {**rust_variables(setup=True), **setup_env}
    if go:
        env, setup_env = (
            with_go_variables(env, setup=False),
            with_go_variables(setup_env, setup=True),
        )
    store = settings.store
    cached = store.lookup(tenant, key)
    if cached is not None:
        return PreparedEnvironment(
            EnvironmentMount(cached.path, worktree_binds=binds), env, key, cache_hit=True,
            lease=cached.lease,
        )  # fmt: skip
    staging = store.staging(tenant, key)
    lease = store.hold(staging)
    command = "\n".join(line for line in ("set -e", script, setup.command) if line)
    try:
        prepare_staging(staging, binds)  # inside: a failed mkdir must not keep the lease
        result = run_phase(
            "setup", command, worktree, required=True, timeout_s=setup_timeout_s, runner=runner,
            on_line=on_line, cancel=cancel, env=setup_env, egress=egress, secrets=secrets,
            environment=EnvironmentMount(staging, writable=True, worktree_binds=binds),
        )  # fmt: skip
    except BaseException:
        lease.release()
        store.discard(staging)
        raise
    if result.cancelled:
        lease.release()
        store.discard(staging)
        return PreparedEnvironment(env=env, key=key, setup=result)
    published = store.publish(tenant, key, staging, lease)
    return PreparedEnvironment(
        EnvironmentMount(published.path, worktree_binds=binds), env, key, setup=result,
        lease=published.lease,
    )  # fmt: skip


def _egress(
    settings: EnvironmentSettings | None, configuration: ResolvedConfiguration
) -> EgressPolicy:
    """The worker's egress policy plus the hosts this repository adds."""
    base = settings.egress if settings else EgressPolicy()
    hosts = tuple(dict.fromkeys([*base.allowed_hosts, *configuration.setup_allowed_hosts]))
    return dataclasses.replace(base, allowed_hosts=hosts)

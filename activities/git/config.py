"""Configuration of the git workspace engine: where it keeps mirrors and workspaces, and
which remotes it may talk to. A plain frozen dataclass so engines never import settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from domain.remote_urls import default_denied_hosts

__all__ = ["GitConfig", "default_denied_hosts"]


@dataclass(frozen=True)
class GitConfig:
    """Where the engine keeps its caches and which remotes it accepts."""

    workspace_root: Path
    mirror_root: Path
    mirror_cache_max_bytes: int = 10 * 1024**3
    allow_local_remotes: bool = False
    denied_hosts: tuple[str, ...] = field(default_factory=default_denied_hosts)
    author_name: str = "builder"
    author_email: str = "builder@localhost"
    # Plain http leaks credentials on the wire: only for tests and dev servers.
    allow_plain_http: bool = False
    # Hosts whose SSH host key is accepted without a known_hosts entry (tests and dev).
    ssh_unverified_hosts: tuple[str, ...] = ()
    # Released workspaces kept per (tenant, repository) for the next execution to reuse;
    # each one avoids a new repository, a full checkout and a deletion.
    warm_workspaces_per_repository: int = 8

"""Settings of the build/test sandbox, passed in by the caller (engines never read settings)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from activities.sandbox.filesystem import ETC_ENTRIES, NEVER_MOUNTED, SYSTEM_DIRS

MiB = 1024 * 1024
GiB = 1024 * MiB

DEFAULT_ENV_PASSTHROUGH: tuple[str, ...] = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "TERM",
    "JAVA_HOME",
    "GOROOT",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@dataclass(frozen=True)
class SandboxConfig:
    """How untrusted repository commands are isolated and bounded.

    The sandbox's filesystem is an allow-list (see activities.sandbox.filesystem):
    `system_dirs` and `etc_entries` read-only, the worker's toolchains (PATH directories,
    its Python, `extra_ro_binds`) read-only at their real paths when `expose_toolchains` is
    set, and the run's own writable places at fixed paths. Nothing at, below or above a path
    in `denied_paths` or `extra_denied` (the state directory) is ever bound. Commands run
    as `sandbox_uid`:`sandbox_gid` without capabilities, in fresh user, mount, pid, ipc, uts,
    cgroup and (unless a run allows network) network namespaces, under a seccomp filter.
    """

    allow_unsandboxed: bool = False
    bwrap_path: str = "bwrap"
    prlimit_path: str = "prlimit"
    output_cap_bytes: int = 2 * MiB
    max_line_bytes: int = 64 * 1024
    # RLIMIT_DATA rather than RLIMIT_AS by default: V8, Go and the JVM reserve far more
    # address space than they use, so an address-space limit kills ordinary test suites.
    memory_limit_bytes: int | None = 8 * GiB
    memory_limit_kind: str = "data"  # "data" (RLIMIT_DATA) or "as" (RLIMIT_AS)
    cpu_seconds: int | None = 3600
    file_size_limit_bytes: int | None = 8 * GiB
    kill_grace_s: float = 0.3
    extra_ro_binds: tuple[Path, ...] = ()
    system_dirs: tuple[str, ...] = SYSTEM_DIRS
    etc_entries: tuple[str, ...] = ETC_ENTRIES
    denied_paths: tuple[str, ...] = NEVER_MOUNTED
    sandbox_uid: int = 1000
    sandbox_gid: int = 1000
    sandbox_user: str = "builder"
    env_passthrough: tuple[str, ...] = DEFAULT_ENV_PASSTHROUGH
    fixed_env: tuple[tuple[str, str], ...] = (("CI", "true"),)
    expose_toolchains: bool = True
    scratch_root: Path | None = None
    extra_denied: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.output_cap_bytes < 1024:
            raise ValueError(f"output_cap_bytes must be at least 1024, got {self.output_cap_bytes}")
        if self.memory_limit_kind not in ("data", "as"):
            raise ValueError(
                f"memory_limit_kind must be 'data' or 'as', got {self.memory_limit_kind!r}"
            )
        if self.kill_grace_s < 0:
            raise ValueError(f"kill_grace_s must not be negative, got {self.kill_grace_s}")
        for name in ("sandbox_uid", "sandbox_gid"):
            value = getattr(self, name)
            if not 0 < value < 65534:
                raise ValueError(f"{name} must be an unprivileged id (1-65533), got {value}")
        if not self.sandbox_user.isidentifier():
            raise ValueError(f"sandbox_user must be a plain name, got {self.sandbox_user!r}")

    @property
    def all_denied_paths(self) -> tuple[str, ...]:
        """Host paths never mounted: the defaults plus the operator's (the state dir)."""
        return tuple(self.denied_paths) + tuple(os.path.realpath(p) for p in self.extra_denied)

"""Settings of the build/test sandbox, passed in by the caller (engines never read settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB

# Directories that hold operator secrets on a typical host: home directories (ssh keys, the
# builder state dir with the vault key, cloud credentials) and /run (docker and other sockets,
# which a network namespace does not cut off because they live on the filesystem).
DEFAULT_HIDDEN_PATHS: tuple[str, ...] = (
    "/root",
    "/home",
    "/run",
    "/var/run",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/ssh/ssh_host_*_key",
)

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
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@dataclass(frozen=True)
class SandboxConfig:
    """How untrusted repository commands are isolated and bounded.

    Paths in `hidden_paths` may be globs; each is covered by an empty tmpfs (directories) or
    /dev/null (files) inside the sandbox. Toolchains installed under a hidden directory (pyenv,
    cargo, nvm under /root) are re-exposed read-only when `expose_toolchains` is set: the
    top-level entry of each PATH directory below a hidden root, unless its name looks like a
    secret store.
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
    hidden_paths: tuple[str, ...] = DEFAULT_HIDDEN_PATHS
    env_passthrough: tuple[str, ...] = DEFAULT_ENV_PASSTHROUGH
    fixed_env: tuple[tuple[str, str], ...] = (("CI", "true"),)
    expose_toolchains: bool = True
    scratch_root: Path | None = None
    extra_hidden: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.output_cap_bytes < 1024:
            raise ValueError(f"output_cap_bytes must be at least 1024, got {self.output_cap_bytes}")
        if self.memory_limit_kind not in ("data", "as"):
            raise ValueError(
                f"memory_limit_kind must be 'data' or 'as', got {self.memory_limit_kind!r}"
            )
        if self.kill_grace_s < 0:
            raise ValueError(f"kill_grace_s must not be negative, got {self.kill_grace_s}")

    @property
    def all_hidden_paths(self) -> tuple[str, ...]:
        return self.hidden_paths + self.extra_hidden

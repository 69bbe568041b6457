"""The bubblewrap command line that contains one run, and the check that it works here.

Every run, and the startup probe, gets the same flags: all namespaces unshared (a user
namespace always, also for a root worker), an unprivileged uid/gid inside, no capabilities,
no nested user namespaces, a new session, death with the worker, the seccomp filter, and the
allow-listed filesystem of activities.sandbox.filesystem with a read-only root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from activities.sandbox import filesystem as fs
from activities.sandbox.config import SandboxConfig
from activities.sandbox.filesystem import Mount
from activities.sandbox.seccomp import UnsupportedArchitecture, filter_program

_probe_lock = threading.Lock()
_probe_results: dict[tuple[SandboxConfig, str], str | None] = {}
_PROBE_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class EnvironmentMount:
    """A per-repository environment (toolchain, dependencies) shown at /env.

    `worktree_binds` are (directory under `path`, path under the worktree) pairs shown at
    the second, read-only like /env unless `writable`: node_modules lives in the
    environment, yet Node finds it where it looks, next to package.json. The worktree only
    ever holds the empty mount point (git ignores an empty directory).
    """

    path: Path
    writable: bool = False
    worktree_binds: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SandboxLayout:
    """Host directories of one run, each shown at its fixed path inside the sandbox."""

    worktree: Path
    home: Path
    tmp: Path
    reports: Path | None = None
    tools: Path | None = None
    environment: EnvironmentMount | None = None
    # setup's egress: the proxy's socket and the forwarder (activities.sandbox.egress)
    egress: Path | None = None


@dataclass(frozen=True)
class SandboxPlan:
    """The mounts of one run, and variables its toolchains need (RUSTUP_HOME)."""

    mounts: list[Mount]
    variables: dict[str, str] = field(default_factory=dict)


def plan_mounts(
    config: SandboxConfig,
    layout: SandboxLayout,
    *,
    path_env: str,
    environ: Mapping[str, str],
    python_prefixes: Sequence[str] | None = None,
) -> SandboxPlan:
    """Everything the sandbox sees, in mount order (later mounts sit on top)."""
    denied = config.all_denied_paths
    mounts = fs.system_mounts(config.system_dirs)
    visible = [m.target for m in mounts if m.kind == "ro-bind"]
    mounts.append(Mount("dir", "/etc"))
    mounts += fs.etc_mounts(config.etc_entries, visible)
    mounts += fs.identity_files(config.sandbox_uid, config.sandbox_gid, config.sandbox_user)
    variables: dict[str, str] = {}
    if config.expose_toolchains:
        if python_prefixes is None:
            python_prefixes = sorted({sys.prefix, sys.base_prefix})
        toolchains = fs.toolchain_mounts(
            path_env,
            list(python_prefixes),
            [str(p) for p in config.extra_ro_binds],
            environ,
            visible,
            denied,
        )
        mounts += toolchains.mounts
        variables.update(toolchains.variables)
    mounts.append(Mount("bind", fs.TMP, str(layout.tmp)))
    mounts.append(Mount("symlink", fs.VAR_TMP, fs.TMP))
    mounts.append(Mount("bind", fs.HOME, str(layout.home)))
    mounts.append(Mount("bind", fs.WORKSPACE, str(layout.worktree)))
    git_dir = fs.git_dir_of(layout.worktree)
    if git_dir is not None:
        mounts.append(Mount("ro-bind", f"{fs.WORKSPACE}/.git", str(git_dir)))
    if layout.reports is not None:
        mounts.append(Mount("bind", fs.REPORTS, str(layout.reports)))
    if layout.tools is not None:
        mounts.append(Mount("ro-bind", fs.TOOLS, str(layout.tools)))
    if layout.environment is not None:
        kind: fs.MountKind = "bind" if layout.environment.writable else "ro-bind"
        mounts.append(Mount(kind, fs.ENVIRONMENT, str(layout.environment.path)))
        for source, target in layout.environment.worktree_binds:
            mounts.append(
                Mount(kind, f"{fs.WORKSPACE}/{target}", str(layout.environment.path / source))
            )
    if layout.egress is not None:
        mounts.append(Mount("ro-bind", fs.EGRESS, str(layout.egress)))
    return SandboxPlan(mounts, variables)


@dataclass
class Launch:
    """An argv and the file descriptors it refers to (seccomp filter, synthesized files).

    The descriptors must reach bubblewrap (`pass_fds`) and be closed once it started.
    """

    argv: list[str]
    fds: list[int]

    def close(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def _data_fd(name: str, data: bytes) -> int:
    fd = os.memfd_create(f"builder-{name}", 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def bubblewrap_launch(
    config: SandboxConfig,
    plan: SandboxPlan,
    command: Sequence[str],
    *,
    allow_network: bool,
    chdir: str = fs.WORKSPACE,
) -> Launch:
    """The full bubblewrap invocation of `command` under `plan`.

    Raises UnsupportedArchitecture when there is no seccomp filter for this machine.
    """
    argv = [config.bwrap_path, "--unshare-all", "--unshare-user"]
    if allow_network:
        argv.append("--share-net")
    argv += [
        "--uid", str(config.sandbox_uid), "--gid", str(config.sandbox_gid),
        "--hostname", "builder-sandbox", "--disable-userns", "--cap-drop", "ALL",
        "--die-with-parent", "--new-session",
    ]  # fmt: skip
    fds: list[int] = []
    try:
        for mount in plan.mounts:
            if mount.kind == "ro-bind-data":
                fds.append(_data_fd(os.path.basename(mount.target), mount.data))
                argv += mount.argv(fds[-1])
            else:
                argv += mount.argv()
        argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm"]  # noqa: S108
        argv += ["--remount-ro", "/"]
        fds.append(_data_fd("seccomp", filter_program()))
        argv += ["--seccomp", str(fds[-1]), "--chdir", chdir, "--"]
    except BaseException:
        Launch(argv, fds).close()
        raise
    return Launch(argv + list(command), fds)


def bubblewrap_problem(config: SandboxConfig) -> str | None:
    """None when bubblewrap can build this sandbox here, else why not (cached per config).

    The probe runs the very flags a real run uses, so a kernel, container or bubblewrap
    that cannot honour one of them (no user namespaces, bwrap older than 0.8 without
    --disable-userns, a seccomp policy forbidding --seccomp) is found at startup.
    """
    key = (config, os.environ.get("PATH", ""))
    with _probe_lock:
        if key not in _probe_results:
            _probe_results[key] = _probe(config)
        return _probe_results[key]


def _probe(config: SandboxConfig) -> str | None:
    if shutil.which(config.bwrap_path) is None:
        return f"bubblewrap executable {config.bwrap_path!r} was not found"
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-", dir=config.scratch_root) as tmp:
        root = Path(tmp)
        layout = SandboxLayout(
            worktree=root / "w", home=root / "h", tmp=root / "t", reports=root / "r"
        )
        for path in (layout.worktree, layout.home, layout.tmp, layout.reports):
            assert path is not None
            path.mkdir()
        environ = dict(os.environ)
        plan = plan_mounts(config, layout, path_env=environ.get("PATH", ""), environ=environ)
        try:
            launch = bubblewrap_launch(config, plan, ["true"], allow_network=False)
        except UnsupportedArchitecture as exc:
            return str(exc)
        try:
            done = subprocess.run(
                launch.argv,
                capture_output=True,
                timeout=20,
                check=False,
                pass_fds=launch.fds,
                env={"PATH": _PROBE_PATH},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap executable {config.bwrap_path!r} could not be started: {exc}"
        finally:
            launch.close()
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace").strip()[:500]
        return f"bubblewrap {config.bwrap_path!r} cannot create the sandbox here: {stderr}"
    return None

"""The bubblewrap command line that isolates one run, and the check that bubblewrap works here."""

from __future__ import annotations

import glob
import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from activities.sandbox.config import SandboxConfig

# Entries below a hidden home that are secret stores: never re-exposed as toolchains.
_NEVER_EXPOSED = frozenset(
    {
        ".ssh",
        ".gnupg",
        ".aws",
        ".azure",
        ".docker",
        ".kube",
        ".builder",
        ".netrc",
        ".git-credentials",
        ".npmrc",
        ".pypirc",
        ".password-store",
        ".claude",
        ".gitconfig",
    }
)
# Mixed-content entries: expose only the PATH directory itself, not the whole entry.
_EXPOSE_ENTRY_ONLY = frozenset({".config", ".local", ".cache"})

_probe_lock = threading.Lock()
_probe_results: dict[str, str | None] = {}


def bubblewrap_problem(bwrap_path: str) -> str | None:
    """None when bubblewrap can build a sandbox here, else why not (cached per executable)."""
    with _probe_lock:
        if bwrap_path not in _probe_results:
            _probe_results[bwrap_path] = _probe(bwrap_path)
        return _probe_results[bwrap_path]


def _probe(bwrap_path: str) -> str | None:
    argv = [bwrap_path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=20, check=False)
    except FileNotFoundError:
        return f"bubblewrap executable {bwrap_path!r} was not found"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap executable {bwrap_path!r} could not be started: {exc}"
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace").strip()[:500]
        return f"bubblewrap {bwrap_path!r} cannot create a sandbox here: {stderr}"
    return None


def hidden_targets(patterns: Sequence[str]) -> list[Path]:
    """Existing paths the hidden-path patterns name, resolved and without duplicates."""
    seen: dict[str, Path] = {}
    for pattern in patterns:
        for match in sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]:
            if os.path.lexists(match):
                real = os.path.realpath(match)
                seen.setdefault(real, Path(real))
    # Parents first, so a child's mount is not hidden again by its parent's tmpfs.
    return sorted(seen.values(), key=lambda p: len(p.parts))


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def toolchain_binds(path_env: str, hidden: Sequence[Path], extra: Sequence[Path]) -> list[Path]:
    """Directories to re-expose read-only so PATH tools installed in a hidden home still run."""
    wanted: list[Path] = [Path(p) for p in extra]
    for entry in path_env.split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        real = Path(os.path.realpath(entry))
        root = next((h for h in hidden if _under(real, h) and h != real), None)
        if root is None:
            continue
        top = real.relative_to(root).parts[0]
        if top in _NEVER_EXPOSED:
            continue
        wanted.append(real if top in _EXPOSE_ENTRY_ONLY else root / top)
    return [p for p in dict.fromkeys(wanted) if p.exists()]


def bubblewrap_argv(
    config: SandboxConfig,
    command: Sequence[str],
    *,
    cwd: Path,
    writable: Sequence[Path],
    allow_network: bool,
    path_env: str,
    python_prefixes: Sequence[str],
) -> list[str]:
    """The full argv: system read-only, secrets hidden, `writable` bound read-write."""
    argv = [config.bwrap_path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--tmpfs", "/tmp"]  # noqa: S108 - the sandbox's own private /tmp
    hidden = hidden_targets(config.all_hidden_paths)
    for target in hidden:
        if target.is_dir():
            argv += ["--tmpfs", str(target)]
        else:
            argv += ["--ro-bind", "/dev/null", str(target)]
    exposed = [Path(p) for p in python_prefixes if any(_under(Path(p), h) for h in hidden)]
    exposed += list(config.extra_ro_binds)
    # DNS must keep working when the network is allowed, even if resolv.conf points into /run.
    resolv = Path(os.path.realpath("/etc/resolv.conf"))
    if resolv.exists() and any(_under(resolv, h) for h in hidden):
        exposed.append(resolv)
    if config.expose_toolchains:
        binds = toolchain_binds(path_env, hidden, exposed)
    else:
        binds = [p for p in dict.fromkeys(exposed) if p.exists()]
    for path in binds:
        argv += ["--ro-bind", str(path), str(path)]
    for path in writable:
        argv += ["--bind", str(path), str(path)]
    argv += ["--unshare-all"]
    if allow_network:
        argv += ["--share-net"]
    argv += ["--die-with-parent", "--new-session", "--chdir", str(cwd), "--"]
    return argv + list(command)

"""Cached environments: what setup installs, kept outside the worktree, per tenant and
dependency state.

Setup writes into a fresh staging directory shown at /env (writable); once it passed, the
directory is published under its key and every later build and test of the same tenant on
the same dependency state mounts it read-only at /env, without running setup again. The key
hashes the files that decide what gets installed (the setup plan's manifests and lock
files, read from the worktree as it is now), the plan itself, the setup command, the
interpreter that creates virtual environments, the repository and the tenant. A tenant's
environments live in their own directory and are only ever mounted for that tenant's
executions; nothing in them is ever part of a commit (the worktree holds none of it).

Layout under the store's root: `<tenant>/<key>/` (published, with a `.complete` marker
written last) and `<tenant>/.staging-<key>-<random>/` (a setup in progress or a failed one).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from domain.setup_plan import SetupPlan

KEY_VERSION = "builder.environment.v1"
MAX_DEPENDENCY_FILE_BYTES = 8 * 1024 * 1024
_COMPLETE = ".complete"


def default_interpreter() -> str:
    """The worker's interpreter; a virtual environment made from it (`python -m venv`) is
    based on its base installation, never on its (or the global) site-packages."""
    return sys.executable


def interpreter_binds(interpreter: str) -> tuple[Path, ...]:
    """What the sandbox must see for `interpreter` to run there: its prefix and, for a
    virtual environment, the installation it is based on (pyvenv.cfg `home`)."""
    prefix = Path(interpreter).parent.parent
    binds = [prefix]
    try:
        config = (prefix / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
    except OSError:
        config = ""
    for line in config.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "home" and value.strip():
            binds.append(Path(value.strip()).parent)
    return tuple(p for p in binds if p.is_dir() and str(p) not in ("/", "/usr"))


def environment_key(
    tenant: str,
    repository: str,
    worktree: Path,
    plan: SetupPlan,
    setup_command: str | None,
    interpreter: str,
    script: str = "",
) -> str:
    """A hex digest of everything that decides the content of an environment."""
    digest = hashlib.sha256()

    def add(label: str, value: bytes) -> None:
        digest.update(label.encode() + b"\0" + str(len(value)).encode() + b"\0" + value)

    add("version", KEY_VERSION.encode())
    add("tenant", tenant.encode())
    add("repository", repository.encode())
    add("plan", plan.model_dump_json().encode())
    add("setup", (setup_command or "").encode())
    add("script", script.encode())
    add("interpreter", f"{interpreter}\0{sys.version}".encode())
    for name in sorted(set(plan.dependency_files)):
        add("file", name.encode())
        add("content", _file_digest(worktree, name))
    return digest.hexdigest()


def _file_digest(worktree: Path, name: str) -> bytes:
    """The content hash of a dependency file; a missing, linked or oversized one hashes as
    what it is, so a change between those states changes the key too."""
    path = worktree / name
    if path.is_symlink():
        return b"symlink:" + os.readlink(path).encode(errors="replace")
    try:
        size = path.stat().st_size
    except OSError:
        return b"missing"
    if size > MAX_DEPENDENCY_FILE_BYTES:
        return f"oversized:{size}".encode()
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return b"unreadable"


@dataclass(frozen=True)
class CachedEnvironment:
    """A published environment: read-only for build and test."""

    key: str
    path: Path


class EnvironmentStore:
    """Published and staging environments under one root (the worker's state directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _tenant_dir(self, tenant: str) -> Path:
        if not tenant or "/" in tenant or tenant.startswith("."):
            raise ValueError(f"not a tenant id: {tenant!r}")
        path = self.root / tenant
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def lookup(self, tenant: str, key: str) -> CachedEnvironment | None:
        """The published environment of `key` for `tenant`, if there is one."""
        path = self._tenant_dir(tenant) / key
        marker = path / _COMPLETE
        if marker.is_file():
            with contextlib.suppress(OSError):
                os.utime(marker)  # last used: what the purge goes by
            return CachedEnvironment(key, path)
        return None

    def staging(self, tenant: str, key: str) -> Path:
        """A new empty directory for one setup to write into."""
        return Path(tempfile.mkdtemp(prefix=f".staging-{key[:16]}-", dir=self._tenant_dir(tenant)))

    def publish(self, tenant: str, key: str, staging: Path) -> CachedEnvironment:
        """Make a passed setup's staging directory the environment of `key`. When another
        execution published the same key first, its environment is kept and ours dropped."""
        (staging / _COMPLETE).write_text(json.dumps({"key": key, "published_at": time.time()}))
        final = self._tenant_dir(tenant) / key
        try:
            os.rename(staging, final)
        except OSError:
            if self.lookup(tenant, key) is None:
                # a leftover without a marker: replace it
                shutil.rmtree(final, ignore_errors=True)
                os.rename(staging, final)
            else:
                shutil.rmtree(staging, ignore_errors=True)
        return CachedEnvironment(key, final)

    @staticmethod
    def discard(staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)

    def remove(self, tenant: str, key: str) -> None:
        """Forget one environment (the next setup builds it again)."""
        path = self._tenant_dir(tenant) / key
        with contextlib.suppress(FileNotFoundError):
            (path / _COMPLETE).unlink()
        shutil.rmtree(path, ignore_errors=True)

    def purge(self, unused_for_s: float, staging_older_than_s: float) -> int:
        """Remove environments no execution used for `unused_for_s` and stagings (setups
        that crashed the worker) older than `staging_older_than_s`; how many went."""
        if not self.root.is_dir():
            return 0
        now = time.time()
        removed = 0
        for tenant in self.root.iterdir():
            if not tenant.is_dir() or tenant.is_symlink():
                continue
            for entry in tenant.iterdir():
                marker = entry / _COMPLETE
                try:
                    if entry.name.startswith(".staging-"):
                        stale = now - entry.stat().st_mtime > staging_older_than_s
                    else:
                        stale = not marker.is_file() or now - marker.stat().st_mtime > unused_for_s
                except OSError:
                    continue
                if stale:
                    with contextlib.suppress(FileNotFoundError):
                        marker.unlink()
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
        return removed

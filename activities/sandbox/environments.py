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

An environment in use (a setup writing it, a build or test mounting it) is held by a
`Lease`: a shared `flock` on its directory. The purge removes a directory only under an
exclusive lock it gets without waiting, so it never removes one in use; it removes what
no execution used for a while and then, least recently used first, what is over the
store's size cap.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
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


class Lease:
    """A shared lock on an environment's directory while it is in use; the purge never
    removes a leased one. Released once (later calls do nothing)."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock


def _lock(path: Path, *, exclusive: bool, wait: bool) -> int | None:
    """A descriptor of directory `path` holding a flock, or None (gone, or locked and not
    `wait`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, mode)
    except OSError:
        os.close(fd)
        return None
    return fd


def tree_size(path: Path) -> int:
    """Bytes a directory tree occupies on disk (hard links counted once, links not
    followed)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, dirs, files in os.walk(path, followlinks=False):
        for name in (*dirs, *files, "."):
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


@dataclass(frozen=True)
class CachedEnvironment:
    """A published environment: read-only for build and test; `lease` holds it in use."""

    key: str
    path: Path
    lease: Lease = field(default_factory=lambda: Lease(None), compare=False, repr=False)


class EnvironmentStore:
    """Published and staging environments under one root (the worker's state directory),
    at most `max_bytes` of them after a purge (0: no size cap)."""

    def __init__(self, root: Path, max_bytes: int = 0) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _tenant_dir(self, tenant: str) -> Path:
        if not tenant or "/" in tenant or tenant.startswith("."):
            raise ValueError(f"not a tenant id: {tenant!r}")
        path = self.root / tenant
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    def lookup(self, tenant: str, key: str) -> CachedEnvironment | None:
        """The published environment of `key` for `tenant`, if there is one, leased: the
        caller releases `lease` when its build or test is done."""
        path = self._tenant_dir(tenant) / key
        fd = _lock(path, exclusive=False, wait=True)  # waits out a purge removing it
        if fd is None:
            return None
        marker = path / _COMPLETE
        try:
            current = os.stat(path).st_ino == os.fstat(fd).st_ino and marker.is_file()
        except OSError:
            current = False
        if not current:  # removed (or replaced) while we waited for the lock
            os.close(fd)
            return None
        with contextlib.suppress(OSError):
            os.utime(marker)  # last used: what the purge goes by
        return CachedEnvironment(key, path, Lease(fd))

    @staticmethod
    def hold(path: Path) -> Lease:
        """A lease on a staging directory while setup writes it; publishing renames the
        directory, so the lease then holds the published environment."""
        return Lease(_lock(path, exclusive=False, wait=True))

    def staging(self, tenant: str, key: str) -> Path:
        """A new empty directory for one setup to write into."""
        return Path(tempfile.mkdtemp(prefix=f".staging-{key[:16]}-", dir=self._tenant_dir(tenant)))

    def publish(
        self, tenant: str, key: str, staging: Path, lease: Lease | None = None
    ) -> CachedEnvironment:
        """Make a passed setup's staging directory the environment of `key`, still held by
        the staging's `lease`. When another execution published the same key first, its
        environment is kept (and leased) and ours dropped."""
        lease = lease or Lease(None)
        (staging / _COMPLETE).write_text(json.dumps({"key": key, "published_at": time.time()}))
        final = self._tenant_dir(tenant) / key
        try:
            os.rename(staging, final)
        except OSError:
            theirs = self.lookup(tenant, key)
            if theirs is None:
                # a leftover without a marker: replace it
                shutil.rmtree(final, ignore_errors=True)
                os.rename(staging, final)
            else:
                lease.release()
                shutil.rmtree(staging, ignore_errors=True)
                return theirs
        return CachedEnvironment(key, final, lease)

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
        """Remove environments no execution used for `unused_for_s`, stagings (setups that
        crashed the worker) older than `staging_older_than_s`, then, least recently used
        first, environments until the store is within `max_bytes`; never one in use. How
        many went."""
        if not self.root.is_dir():
            return 0
        now = time.time()
        removed = 0
        kept: list[tuple[float, Path]] = []  # (last used, directory) of published ones
        for tenant in self.root.iterdir():
            if not tenant.is_dir() or tenant.is_symlink():
                continue
            for entry in tenant.iterdir():
                marker = entry / _COMPLETE
                try:
                    if entry.name.startswith(".staging-"):
                        last = entry.stat().st_mtime
                        stale = now - last > staging_older_than_s
                    else:
                        last = marker.stat().st_mtime if marker.is_file() else 0.0
                        stale = not last or now - last > unused_for_s
                except OSError:
                    continue
                if stale and _remove_idle(entry):
                    removed += 1
                elif not entry.name.startswith(".staging-"):
                    kept.append((last, entry))
        if self.max_bytes > 0:
            removed += self._evict_over_cap(kept)
        return removed

    def _evict_over_cap(self, published: list[tuple[float, Path]]) -> int:
        total = tree_size(self.root)
        removed = 0
        for _last, entry in sorted(published, key=lambda item: item[0]):
            if total <= self.max_bytes:
                break
            size = tree_size(entry)
            if _remove_idle(entry):
                total -= size
                removed += 1
        return removed


def _remove_idle(entry: Path) -> bool:
    """Remove an environment or staging directory unless it is in use (leased)."""
    fd = _lock(entry, exclusive=True, wait=False)
    if fd is None:
        return False
    try:
        with contextlib.suppress(FileNotFoundError):
            (entry / _COMPLETE).unlink()  # no lookup takes it from here on
        shutil.rmtree(entry, ignore_errors=True)
    finally:
        os.close(fd)
    return True

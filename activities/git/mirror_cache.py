"""One bare mirror per remote URL on the worker's disk, fetched incrementally.

Every access holds a per-mirror `flock` (exclusive to fetch, shared to read objects), so
concurrent executions in threads and in processes never corrupt a mirror. The cache is
bounded: least recently used mirrors are evicted once it grows past its budget.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pygit2

from activities.git.config import GitConfig
from activities.git.credentials import BuilderCallbacks, GitCredential, raise_for_remote_error
from activities.git.progress import ProgressCallback, ProgressReporter, check_cancelled
from activities.git.remote_url import check_remote_url, redact_url

REMOTE = "origin"
FETCH_REFSPECS = [f"+refs/heads/*:refs/remotes/{REMOTE}/*", "+refs/tags/*:refs/tags/*"]
_LAST_USED = "builder-last-used"


def repository_key(url: str) -> str:
    """Stable directory name of the mirror of `url`."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


class MirrorCache:
    """Bare mirrors under `config.mirror_root`, keyed by the hash of their URL."""

    def __init__(self, config: GitConfig) -> None:
        self._config = config
        self._root = Path(config.mirror_root)

    def path_for(self, url: str) -> Path:
        return self._root / f"{repository_key(url)}.git"

    @contextlib.contextmanager
    def locked(self, url: str, *, exclusive: bool) -> Iterator[Path]:
        """Hold the mirror's lock; yields its path (which may not exist yet)."""
        self._root.mkdir(parents=True, exist_ok=True)
        lock_path = self._root / f"{repository_key(url)}.lock"
        # one open file description per holder, so flock also excludes threads of this process
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield self.path_for(url)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sync(
        self,
        url: str,
        credential: GitCredential | None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Path:
        """Bring the mirror of `url` up to date (cloning it the first time); its path."""
        location = check_remote_url(url, self._config)
        reporter = ProgressReporter(progress)
        with self.locked(url, exclusive=True) as mirror:
            check_cancelled(cancel, f"waiting for the mirror of {redact_url(url)}")
            if (mirror / "HEAD").exists():
                reporter.report(f"fetching {redact_url(url)} into the mirror", force=True)
                self._fetch(pygit2.Repository(str(mirror)), url, credential, progress, cancel)
            else:
                reporter.report(f"creating the mirror of {redact_url(url)}", force=True)
                self._create(mirror, url, location.local_path, credential, progress, cancel)
            self.touch(mirror)
        return mirror

    def _fetch(
        self,
        repo: pygit2.Repository,
        url: str,
        credential: GitCredential | None,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        callbacks = BuilderCallbacks(url, credential, self._config, progress, cancel)
        remote = repo.remotes[REMOTE]
        try:
            remote.fetch(FETCH_REFSPECS, callbacks=callbacks, prune=pygit2.enums.FetchPrune.PRUNE)
        except Exception as error:
            raise_for_remote_error(error, callbacks, "fetching", url, credential)

    def _create(
        self,
        mirror: Path,
        url: str,
        local_path: str | None,
        credential: GitCredential | None,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> None:
        # build beside the final place and rename, so a crash never leaves half a mirror
        staging = mirror.with_name(f"{mirror.name}.tmp-{uuid.uuid4().hex[:8]}")
        try:
            if local_path is not None and not url.startswith("file://"):
                # a plain local path clones with hardlinks instead of packing objects
                callbacks = BuilderCallbacks(url, credential, self._config, progress, cancel)
                try:
                    repo = pygit2.clone_repository(
                        local_path, str(staging), bare=True, callbacks=callbacks
                    )
                except Exception as error:
                    raise_for_remote_error(error, callbacks, "cloning", url, credential)
                repo.remotes.set_url(REMOTE, url)
                if FETCH_REFSPECS[1] not in repo.remotes[REMOTE].fetch_refspecs:
                    repo.remotes.add_fetch(REMOTE, FETCH_REFSPECS[1])
            else:
                repo = pygit2.init_repository(str(staging), bare=True)
                repo.remotes.create(REMOTE, url, FETCH_REFSPECS[0])
                repo.remotes.add_fetch(REMOTE, FETCH_REFSPECS[1])
                self._fetch(repo, url, credential, progress, cancel)
            repo.free()
            os.rename(staging, mirror)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def touch(mirror: Path) -> None:
        (mirror / _LAST_USED).touch()

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Remove least recently used mirrors until the cache fits its budget."""
        if not self._root.exists():
            return []
        mirrors = []
        for entry in self._root.glob("*.git"):
            if ".tmp-" in entry.name:
                continue
            marker = entry / _LAST_USED
            used = marker.stat().st_mtime if marker.exists() else 0.0
            mirrors.append((used, _size_of(entry), entry))
        total = sum(size for _, size, _ in mirrors)
        evicted: list[Path] = []
        for _, size, entry in sorted(mirrors):
            if total <= self._config.mirror_cache_max_bytes:
                break
            if keep is not None and entry == keep:
                continue
            if self._remove_if_idle(entry):
                total -= size
                evicted.append(entry)
        return evicted

    def _remove_if_idle(self, mirror: Path) -> bool:
        lock_path = mirror.with_suffix(".lock")
        with open(lock_path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # in use right now: evict it another time
            try:
                # rename first so a reader never sees a half-deleted mirror
                doomed = mirror.with_name(f"{mirror.name}.tmp-evict-{time.time_ns()}")
                os.rename(mirror, doomed)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        shutil.rmtree(doomed, ignore_errors=True)
        return True


def _size_of(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total

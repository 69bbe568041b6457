"""Per-execution workspaces made cheaply from the mirror cache.

A workspace is a plain non-bare repository whose object database is hardlinked from the
mirror's packs (immutable files, so sharing them is safe and survives mirror eviction);
only the checkout writes real files. A released workspace can be kept warm: the next
execution of the same tenant on the same repository takes it over and resets it to its base
commit, which rewrites only the files that differ and removes every untracked and ignored
file. Workspaces are never shared across tenants, and every claim puts the git metadata back
into builder's canonical shape (activities.git.hygiene) instead of trusting it.

A discarded workspace is renamed into the trash (one rename, atomic) and deleted by the
store's reaper thread, off the activity's path; the purge and a worker's start empty
whatever a crash left there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import stat
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy

from activities.git.config import GitConfig
from activities.git.credentials import GitCredential
from activities.git.errors import OperationCancelled
from activities.git.hygiene import (
    CANONICAL_CONFIG,
    UntrustedGitDir,
    sanitize_git_dir,
    scrub_worktree,
)
from activities.git.mirror_cache import REMOTE, MirrorCache
from activities.git.progress import ProgressCallback, ProgressReporter, check_cancelled
from activities.git.remote_url import check_remote_url, redact_url
from domain.errors import PolicyViolation, RepositoryAccessError

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_REPOSITORY_MARKER = "builder-repository"
_WARM = ".warm"
_TRASH = ".trash"
_REAPER_IDLE_S = 30.0  # the reaper thread exits after this long with nothing to delete


def warm_key(tenant: str, url: str) -> str:
    """Name under which a tenant's released workspaces of `url` wait for reuse."""
    return hashlib.sha256(f"{tenant}\n{url}".encode()).hexdigest()[:32]


def _read_marker(git_dir: Path) -> str | None:
    """The workspace's warm key, when its marker is a small regular file."""
    marker = git_dir / _REPOSITORY_MARKER
    try:
        st = os.lstat(marker)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > 256:
        return None
    return marker.read_text().strip()


@dataclass(frozen=True)
class Workspace:
    """A checkout on the local feature branch, at `head` (== base_commit when fresh)."""

    path: Path
    base_commit: str
    feature_branch: str
    head: str


class _CheckoutProgress(pygit2.CheckoutCallbacks):
    def __init__(self, reporter: ProgressReporter, cancel: threading.Event | None) -> None:
        super().__init__()
        self._reporter = reporter
        self._cancel = cancel
        self.cancelled = False

    def checkout_progress(self, path: str, completed_steps: int, total_steps: int) -> None:
        # libgit2 cannot abort a checkout from here; remember and stop right after it
        if self._cancel is not None and self._cancel.is_set():
            self.cancelled = True
        self._reporter.report(f"checked out {completed_steps}/{total_steps} files")


class _Reaper:
    """Deletes what was renamed into a trash directory, in one daemon thread, off the
    callers' path. `empty` deletes everything there now, in the caller's thread."""

    def __init__(self, trash: Path) -> None:
        self.trash = trash
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one emptier at a time (reaper or purge)
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def discard(self, path: Path) -> None:
        """Move `path` out of the way now; delete it soon."""
        self.trash.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, self.trash / f"{path.name}-{uuid.uuid4().hex[:8]}")
        except OSError:
            remove_tree(path)  # cannot be renamed (gone, or another file system): delete here
            return
        self._wake.set()
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="workspace-reaper", daemon=True
                )
                self._thread.start()

    def empty(self) -> int:
        """Delete everything in the trash; how many entries were removed."""
        with self._lock:
            try:
                doomed = list(self.trash.iterdir())
            except FileNotFoundError:
                return 0
            for entry in doomed:
                if entry.is_dir() and not entry.is_symlink():
                    remove_tree(entry)
                else:
                    entry.unlink(missing_ok=True)
            return len(doomed)

    def _run(self) -> None:
        while True:
            if not self._wake.wait(_REAPER_IDLE_S):
                with self._start:  # idle: exit, unless a discard came in just now
                    if not self._wake.is_set():
                        self._thread = None
                        return
            self._wake.clear()
            with contextlib.suppress(OSError):  # the purge tries again
                self.empty()


class WorkspaceStore:
    """Workspaces under `config.workspace_root/<key>`, backed by the mirror cache."""

    def __init__(self, config: GitConfig, mirrors: MirrorCache | None = None) -> None:
        self._config = config
        self._root = Path(config.workspace_root)
        self._mirrors = mirrors or MirrorCache(config)
        self._reaper = _Reaper(self._root / _TRASH)

    @property
    def mirrors(self) -> MirrorCache:
        return self._mirrors

    def path_of(self, key: str) -> Path:
        if not _KEY.match(key):
            raise PolicyViolation(
                f"workspace key {key!r} must be 1-200 letters, digits, '.', '_' or '-'"
            )
        return self._root / key

    def open_workspace(
        self,
        url: str,
        credential: GitCredential | None,
        key: str,
        target_branch: str,
        feature_branch: str,
        base_commit: str | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        *,
        tenant: str,
    ) -> Workspace:
        """A checkout of `base_commit` (default: tip of `target_branch`) on `feature_branch`;
        only workspaces `tenant` released for `url` are reused."""
        check_remote_url(url, self._config)
        path = self.path_of(key)
        for what, branch in (("target", target_branch), ("feature", feature_branch)):
            if not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
                raise PolicyViolation(
                    f"{what} branch name {branch!r} is not a valid git branch name"
                )
        reporter = ProgressReporter(progress)
        check_cancelled(cancel, "opening a workspace")
        synced = False
        if base_commit is None or not self._mirror_has(url, base_commit):
            self._mirrors.sync(url, credential, progress, cancel)
            synced = True
        with self._mirrors.locked(url, exclusive=False) as mirror:
            base = _resolve_base(pygit2.Repository(str(mirror)), url, target_branch, base_commit)
            check_cancelled(cancel, "preparing the workspace")
            self._claim(path, warm_key(tenant, url))
            _link_objects(mirror / "objects", path / ".git" / "objects")
            self._mirrors.touch(mirror)
        reporter.report(f"checking out {base[:12]}", force=True)
        repo = pygit2.Repository(str(path))
        _reset_to(repo, base, feature_branch, reporter, cancel)
        if synced:  # only a fetch grows the cache
            self._mirrors.evict(keep=self._mirrors.path_for(url))
        return Workspace(path=path, base_commit=base, feature_branch=feature_branch, head=base)

    def release_workspace(self, key: str, keep_warm: bool) -> None:
        """Give the workspace up; keep it for the next execution on its repository when asked."""
        path = self.path_of(key)
        if not path.exists():
            return
        repo_key = _read_marker(path / ".git")
        if not keep_warm or repo_key is None or not _KEY.match(repo_key):
            self.remove_workspace(key)
            return
        warm = self._root / _WARM
        warm.mkdir(parents=True, exist_ok=True)
        os.rename(path, warm / f"{repo_key}-{uuid.uuid4().hex[:12]}")
        kept = sorted(warm.glob(f"{repo_key}-*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for extra in kept[self._config.warm_workspaces_per_repository :]:
            self._reaper.discard(extra)

    def remove_workspace(self, key: str) -> None:
        """Delete the workspace of `key`; a no-op when it does not exist."""
        path = self.path_of(key)
        if path.exists():
            self._reaper.discard(path)

    def empty_trash(self) -> int:
        """Delete the discarded workspaces still in the trash (the purge; a crash's leftovers)."""
        return self._reaper.empty()

    # -- internals ---------------------------------------------------------------------
    def _mirror_has(self, url: str, sha: str) -> bool:
        mirror = self._mirrors.path_for(url)
        if not (mirror / "HEAD").exists():
            return False
        with self._mirrors.locked(url, exclusive=False) as locked:
            if not (locked / "HEAD").exists():
                return False
            try:
                return isinstance(pygit2.Repository(str(locked)).get(sha), pygit2.Commit)
            except (ValueError, KeyError):
                return False

    def _claim(self, path: Path, repo_key: str) -> None:
        """Make `path` a workspace repository of `repo_key`: kept, warm, or brand new, its
        git metadata made canonical whichever it is."""
        if path.exists():
            if _read_marker(path / ".git") == repo_key and _sanitized(path):
                return
            self._reaper.discard(path)
        self._root.mkdir(parents=True, exist_ok=True)
        for warm in sorted((self._root / _WARM).glob(f"{repo_key}-*")):
            try:
                os.rename(warm, path)  # atomic: two claimants never get the same one
            except OSError:
                continue
            if _sanitized(path):
                return
            self._reaper.discard(path)
        _init_workspace(path, repo_key)


def _init_workspace(path: Path, repo_key: str) -> None:
    """An empty repository in builder's canonical shape, written directly: libgit2's init
    copies a template (description, hooks, info/exclude) that the claim would only delete."""
    git = path / ".git"
    (git / "objects" / "pack").mkdir(parents=True)
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")  # set to the feature branch next
    (git / "config").write_text(CANONICAL_CONFIG)
    (git / _REPOSITORY_MARKER).write_text(repo_key + "\n")


def _sanitized(path: Path) -> bool:
    """Whether the workspace's metadata could be made canonical (else it is discarded)."""
    try:
        sanitize_git_dir(path, _REPOSITORY_MARKER)
    except (UntrustedGitDir, OSError):
        return False
    return True


def _resolve_base(
    mirror: pygit2.Repository, url: str, target_branch: str, base_commit: str | None
) -> str:
    if base_commit is not None:
        try:
            obj = mirror.get(base_commit)
        except ValueError:
            obj = None
        if not isinstance(obj, pygit2.Commit):
            raise RepositoryAccessError(
                f"base commit {base_commit!r} does not exist in {redact_url(url)}"
            )
        return str(obj.id)
    ref = mirror.references.get(f"refs/remotes/{REMOTE}/{target_branch}")
    if ref is None:
        raise RepositoryAccessError(f"branch {target_branch!r} does not exist in {redact_url(url)}")
    return str(ref.peel(pygit2.Commit).id)


def _link_objects(source: Path, target: Path) -> None:
    """Hardlink the mirror's object files (immutable) into the workspace; copy across devices."""
    for dirpath, dirnames, files in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        if rel == "info" or rel.startswith("info" + os.sep):
            dirnames.clear()
            continue
        out = target if rel == "." else target / rel
        out.mkdir(parents=True, exist_ok=True)
        existing = set(os.listdir(out))
        for name in files:
            if name in existing or name.startswith("tmp_"):
                continue
            try:
                os.link(os.path.join(dirpath, name), out / name)
            except FileExistsError:
                continue
            except OSError:
                shutil.copy2(os.path.join(dirpath, name), out / name)


def _reset_to(
    repo: pygit2.Repository,
    base: str,
    feature_branch: str,
    reporter: ProgressReporter,
    cancel: threading.Event | None,
) -> None:
    commit = repo[base].peel(pygit2.Commit)
    scrub_worktree(Path(repo.workdir), commit.tree)  # a planted symlink must not lead it out
    # a Python callback per file costs ~10% of a checkout: only pay when someone listens
    callbacks = _CheckoutProgress(reporter, cancel) if reporter.active or cancel else None
    # libgit2 compares against HEAD and the index stat cache: only differing files are written
    # untracked and ignored files go too: nothing a run planted survives into the next one
    repo.checkout_tree(
        commit,
        strategy=CheckoutStrategy.FORCE
        | CheckoutStrategy.REMOVE_UNTRACKED
        | CheckoutStrategy.REMOVE_IGNORED,
        callbacks=callbacks,
    )
    repo.references.create(f"refs/heads/{feature_branch}", commit.id, force=True)
    repo.set_head(f"refs/heads/{feature_branch}")
    if callbacks is not None and callbacks.cancelled:
        raise OperationCancelled("cancelled while checking out the workspace")


def remove_tree(path: Path) -> None:
    """Delete `path` even when a run made directories in it unreadable or unwritable."""

    def retry(function: object, failed: str, _exc: object) -> None:
        parent = os.path.dirname(failed)
        for target in (parent, failed):
            try:
                if stat.S_ISDIR(os.lstat(target).st_mode):
                    os.chmod(target, 0o700)
            except OSError:
                pass
        try:
            if os.path.isdir(failed) and not os.path.islink(failed):
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)

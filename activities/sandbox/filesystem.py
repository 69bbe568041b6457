"""What a sandboxed command sees of the filesystem: an allow-list, never the host's `/`.

The sandbox's root is an empty tmpfs. Into it go, read-only, the system directories, a few
named /etc entries (passwd, group and nsswitch.conf are synthesized), the toolchains the
worker's PATH and Python need (at their real paths, because their scripts embed them), and,
at fixed paths, the run's own writable places: the worktree at /workspace (its .git
read-only), HOME at /home/builder, /tmp, the reports dir and the environment. Anything not
listed (the state directory with the vault key, mirrors, other workspaces, /root, /home,
/run, /var) is simply not there, so no trick inside the sandbox can uncover it.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# Fixed places inside the sandbox. A cached environment that records the worktree path
# (an editable install) keeps working in the next execution, and the host layout (state
# dir, workspace root) never shows in paths, logs or reports.
WORKSPACE = "/workspace"
HOME = "/home/builder"
TMP = "/tmp"  # noqa: S108 - the run's own /tmp, backed by its scratch dir
VAR_TMP = "/var/tmp"  # noqa: S108 - a symlink to the run's /tmp
REPORTS = "/builder/reports"
# builder's own read-only helpers (the unittest result collector)
TOOLS = "/builder/tools"
ENVIRONMENT = "/env"
# setup's way out: the egress proxy's socket and the forwarder that listens on loopback
EGRESS = "/builder/egress"
RESERVED = (
    WORKSPACE, HOME, TMP, VAR_TMP, REPORTS, TOOLS, ENVIRONMENT, "/builder", "/proc", "/dev",
    "/etc",
)  # fmt: skip

SYSTEM_DIRS: tuple[str, ...] = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
)

# /etc entries a build may need: name resolution, TLS roots, the dynamic linker, time zone,
# locale and MIME data, Java and Maven configuration. Never shadow, gshadow, sudoers, ssh
# (host keys) or ssl/private; passwd, group and nsswitch.conf are synthesized instead.
ETC_ENTRIES: tuple[str, ...] = (
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "services",
    "protocols",
    "networks",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates",
    "ca-certificates.conf",
    "pki/tls/certs",
    "pki/tls/openssl.cnf",
    "pki/ca-trust",
    "crypto-policies",
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "os-release",
    "lsb-release",
    "debian_version",
    "mime.types",
    "magic",
    "magic.mime",
    "locale.alias",
    "locale.conf",
    "fonts",
    "xml",
    "gnutls",
    "mtab",
    "java-*",
    "maven",
    "python3*",
    "perl",
)

# Host paths never bound, whatever a toolchain, prefix or extra bind points at.
NEVER_MOUNTED: tuple[str, ...] = (
    "/run",
    "/var/run",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/pki/tls/private",
    "/proc",
    "/sys",
    "/dev",
)

# Home-directory entries that hold credentials: never bound, not even in part.
SECRET_STORES = frozenset(
    {
        ".ssh",
        ".gnupg",
        ".aws",
        ".azure",
        ".config/gcloud",
        ".docker",
        ".kube",
        ".builder",
        ".netrc",
        ".git-credentials",
        ".gitconfig",
        ".npmrc",
        ".pypirc",
        ".password-store",
        ".claude",
        ".terraformrc",
        ".m2",
        ".gradle",
    }
)
# Version managers whose shims need their whole tree (versions, libexec); any other PATH
# directory in a home is bound alone (~/.cargo/bin, not ~/.cargo with its credentials.toml).
VERSION_MANAGERS = frozenset(
    {".pyenv", ".nvm", ".rustup", ".rbenv", ".nodenv", ".goenv", ".jenv", ".sdkman", ".volta"}
)
# Directories named by these variables are toolchains too (when set in the worker).
TOOLCHAIN_VARIABLES = ("PYENV_ROOT", "RUSTUP_HOME", "JAVA_HOME", "GOROOT", "NVM_DIR")

MountKind = Literal["ro-bind", "bind", "symlink", "ro-bind-data", "dir"]


@dataclass(frozen=True)
class Mount:
    """One bubblewrap mount operation; `source` is a host path, link text or data."""

    kind: MountKind
    target: str
    source: str = ""
    data: bytes = b""

    def argv(self, data_fd: int | None = None) -> list[str]:
        if self.kind == "ro-bind-data":
            assert data_fd is not None
            return ["--perms", "0644", "--ro-bind-data", str(data_fd), self.target]
        if self.kind == "dir":
            return ["--dir", self.target]
        return [f"--{self.kind}", self.source, self.target]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _denied(path: str, denied: Sequence[str]) -> bool:
    """`path` is, is inside, or contains something never to be mounted."""
    return any(_under(path, d) or _under(d, path) for d in denied)


def system_mounts(system_dirs: Sequence[str] = SYSTEM_DIRS) -> list[Mount]:
    """System directories read-only; merged-/usr symlinks (/bin -> usr/bin) stay symlinks."""
    out: list[Mount] = []
    for path in system_dirs:
        if os.path.islink(path):
            link = os.readlink(path)
            if _under(os.path.realpath(path), "/usr") or not os.path.isabs(link):
                out.append(Mount("symlink", path, link))
        elif os.path.isdir(path):
            out.append(Mount("ro-bind", path, path))
    return out


def identity_files(uid: int, gid: int, user: str) -> list[Mount]:
    """passwd, group and nsswitch.conf of the sandbox user, so user lookups work."""
    passwd = (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{user}:x:{uid}:{gid}:{user}:{HOME}:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    group = f"root:x:0:\n{user}:x:{gid}:\nnogroup:x:65534:\n"
    nsswitch = (
        "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
        "protocols: files\nservices: files\nethers: files\nrpc: files\n"
    )
    return [
        Mount("ro-bind-data", "/etc/passwd", data=passwd.encode()),
        Mount("ro-bind-data", "/etc/group", data=group.encode()),
        Mount("ro-bind-data", "/etc/nsswitch.conf", data=nsswitch.encode()),
    ]


def etc_mounts(
    entries: Sequence[str], mounted_roots: Sequence[str], etc: str = "/etc"
) -> list[Mount]:
    """The allowed /etc entries that exist; a symlink whose target the sandbox also sees
    stays a symlink (tools read /etc/localtime's link to learn the zone name), any other is
    bound as the file or directory it points at."""
    out: list[Mount] = []
    for pattern in entries:
        names = sorted(glob.glob(os.path.join(etc, pattern))) if glob.has_magic(pattern) else []
        for host in names or [os.path.join(etc, pattern)]:
            target = "/etc/" + os.path.relpath(host, etc)
            if _denied(target, NEVER_MOUNTED) or not os.path.lexists(host):
                continue
            if os.path.islink(host):
                link = os.readlink(host)
                real = os.path.realpath(host)
                if any(_under(real, root) for root in mounted_roots) or _under(real, "/proc"):
                    out.append(Mount("symlink", target, link))
                    continue
                host = real
            try:
                mode = os.stat(host).st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                out.append(Mount("ro-bind", target, host))
    return out


def _home_roots(home: str | None) -> list[str]:
    roots = ["/root", "/home"]
    if home and os.path.isabs(home):
        roots.append(os.path.realpath(home))
    return roots


def _toolchain_dir(path: str, home_roots: Sequence[str]) -> str | None:
    """The directory to bind for a toolchain at `path`, or None when it must stay out."""
    for root in sorted(home_roots, key=len, reverse=True):
        if _under(root, path):  # a whole home, or a directory that contains homes
            return None
        if not _under(path, root):
            continue
        rel = os.path.relpath(path, root).split(os.sep)
        if root == "/home":  # /home/<user>/...: the user's home is the root
            if len(rel) < 2:
                return None
            root, rel = os.path.join(root, rel[0]), rel[1:]
        if rel[0] in SECRET_STORES or "/".join(rel[:2]) in SECRET_STORES:
            return None
        if rel[0] in VERSION_MANAGERS:
            return os.path.join(root, rel[0])
        return path
    return path


@dataclass(frozen=True)
class Toolchains:
    """Read-only binds that make the worker's toolchains run, and variables they need."""

    mounts: list[Mount]
    variables: dict[str, str]


def toolchain_mounts(
    path_env: str,
    python_prefixes: Sequence[str],
    extra: Sequence[str],
    environ: Mapping[str, str],
    mounted_roots: Sequence[str],
    denied: Sequence[str],
    reserved: Sequence[str] = RESERVED,
) -> Toolchains:
    """Binds for every PATH directory, Python prefix, toolchain variable and extra bind that
    is not already visible; secret stores, whole home directories, denied paths and the
    sandbox's `reserved` paths (a toolchain under the host's /tmp cannot appear at its real
    path, where the run's own /tmp is) are left out."""
    roots = _home_roots(environ.get("HOME"))
    candidates = [p for p in path_env.split(os.pathsep) if p and os.path.isabs(p)]
    candidates += [environ[v] for v in TOOLCHAIN_VARIABLES if environ.get(v)]
    candidates += list(python_prefixes)
    wanted: list[str] = []
    variables: dict[str, str] = {}
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if not os.path.isdir(real):
            continue
        chosen = _toolchain_dir(real, roots)
        if chosen is None:
            continue
        wanted.append(chosen)
        # rustup's proxies in ~/.cargo/bin find their toolchains through RUSTUP_HOME
        if chosen.endswith("/.cargo/bin") and not environ.get("RUSTUP_HOME"):
            rustup = os.path.join(os.path.dirname(os.path.dirname(chosen)), ".rustup")
            if os.path.isdir(rustup):
                wanted.append(rustup)
                variables["RUSTUP_HOME"] = rustup
    wanted += [os.path.realpath(p) for p in extra]
    mounts: list[Mount] = []
    kept: list[str] = []
    for path in sorted(dict.fromkeys(wanted), key=len):
        if any(_under(path, root) for root in [*mounted_roots, *kept]):
            continue
        if _denied(path, denied) or any(_under(path, r) or _under(r, path) for r in reserved):
            continue
        if not os.path.isdir(path) and not os.path.isfile(path):
            continue
        kept.append(path)
        mounts.append(Mount("ro-bind", path, path))
    return Toolchains(mounts, variables)


def git_dir_of(worktree: Path) -> Path | None:
    """The worktree's .git when it is a real directory; None when there is none.

    Raises ValueError for a .git that is a symlink, a file (a `gitdir:` link) or anything
    else: binding it would show the sandbox whatever it points at.
    """
    git = worktree / ".git"
    try:
        mode = os.lstat(git).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        return git
    raise ValueError(
        f"{git} is not a directory (a symlink or a gitdir file); refusing to run a "
        "sandboxed command in a worktree whose git metadata lives elsewhere"
    )

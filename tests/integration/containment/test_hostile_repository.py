"""A hostile repository against real bubblewrap, with the worker as root and as a normal user:
every attempt is blocked or changes nothing on the host, in the push or for another tenant,
and the run's log says what was refused."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import stat
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.git.hygiene import CANONICAL_CONFIG
from tests.integration.containment.conftest import Worker
from tests.integration.containment.scenarios import BRANCH, VAULT_SECRET

POSTGRES_SOCKET = "/var/run/postgresql/.s.PGSQL.5432"

# attempt -> the outcomes that mean "refused" (errno names the sandbox reports)
REFUSED: dict[str, set[str]] = {
    "read vault key": {"ENOENT"},
    "list state dir": {"ENOENT"},
    "list mirror": {"ENOENT"},
    "list other workspaces": {"ENOENT"},
    "read /etc/shadow": {"ENOENT"},
    "read /root/.npmrc": {"ENOENT"},
    "list /root/.ssh": {"ENOENT"},
    "umount2 /workspace/.git": {"EPERM"},
    "umount2 /etc/passwd": {"EPERM"},
    "umount2 /tmp": {"EPERM"},
    "umount2 /": {"EPERM"},
    "mount remount / rw": {"EPERM"},
    "mount bind host root": {"EPERM"},
    "umount -l /workspace/.git": {"exit 32"},
    "mount -o remount,rw /": {"exit 32"},
    "write / after remount": {"EROFS"},
    "open_tree": {"EPERM"},
    "fsopen": {"EPERM"},
    "write .git/config": {"EROFS"},
    "create .git/hooks": {"EROFS"},
    "write .git/info/attributes": {"ENOENT", "EROFS"},
    "move branch ref": {"EROFS"},
    "move HEAD": {"EROFS"},
    "rename .git away": {"EBUSY", "EROFS"},
    "git update-ref": {"exit 128"},
    "git config core.worktree": {"exit 255"},
    "open pack for writing": {"EACCES", "EROFS"},
    "chmod pack": {"EROFS"},
    "hardlink pack into worktree": {"EXDEV"},
    "ptrace pid 1": {"EPERM"},
    "ptrace own child": {"EPERM"},
    "ptrace traceme": {"EPERM"},
    "signal the worker": {"ESRCH"},
    "unshare": {"EPERM"},
    "unshare mount ns": {"EPERM"},
    "clone user ns": {"EPERM"},
    "unshare -U": {"exit 1"},
    "unshare -r": {"exit 1"},
    "setns": {"EPERM"},
    "keyctl": {"EPERM"},
    "add_key": {"EPERM"},
    "bpf": {"EPERM"},
    "perf_event_open": {"EPERM"},
    "process_vm_readv": {"EPERM"},
    "connect 127.0.0.1 test port": {"ECONNREFUSED", "ENETUNREACH"},
    "connect 127.0.0.1:5432": {"ECONNREFUSED", "ENETUNREACH"},
    "connect abstract socket": {"ECONNREFUSED"},
    "write state dir": {"ENOENT"},
    "chmod u+s": {"EPERM"},
    "create setuid file": {"EPERM"},
}


def _attempts(output: str) -> dict[str, str]:
    return dict(re.findall(r"^ATTEMPT (.+?): (.+)$", output, re.M))


@pytest.fixture
def listeners() -> Iterator[dict[str, object]]:
    """A TCP port, a unix socket under /var/run and an abstract socket, all on the host."""
    tag = uuid.uuid4().hex[:10]
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    run_dir = Path("/var/run") / f"builder-containment-{tag}"
    run_dir.mkdir()
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(run_dir / ".s.PGSQL.5432"))
    unix.listen(8)
    os.chmod(run_dir, 0o755)
    os.chmod(run_dir / ".s.PGSQL.5432", 0o777)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + f"builder-containment-{tag}")
    abstract.listen(8)
    sockets = [str(run_dir / ".s.PGSQL.5432")]
    if os.path.exists(POSTGRES_SOCKET):
        sockets.append(POSTGRES_SOCKET)
    try:
        yield {
            "tcp_port": tcp.getsockname()[1],
            "unix_sockets": sockets,
            "abstract": f"builder-containment-{tag}",
            "host_tmp_marker": f"/tmp/builder-containment-{tag}",
        }
    finally:
        for sock in (tcp, unix, abstract):
            sock.close()
        (run_dir / ".s.PGSQL.5432").unlink()
        run_dir.rmdir()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"/tmp/builder-containment-{tag}")


def _loose_object_intact(path: Path) -> bool:
    """A loose object still hashes to its name (nothing rewrote the mirror's file)."""
    data = zlib.decompress(path.read_bytes())
    return hashlib.sha1(data).hexdigest() == path.parent.name + path.name


def test_every_escape_attempt_is_refused_and_logged_and_the_host_is_unchanged(
    worker: Worker, listeners: dict[str, object]
) -> None:
    facts = worker.run("probe", **listeners)
    output = facts["output"]
    assert "PROBE DONE" in output, output
    seen = _attempts(output)
    for name, refused in REFUSED.items():
        assert seen.get(name) in refused, f"{name}: {seen.get(name)!r}\n{output}"
    for path in listeners["unix_sockets"]:  # type: ignore[attr-defined]
        assert seen[f"connect unix {path}"] == "ENOENT"
    assert VAULT_SECRET not in output
    # only toolchains of /root are there, and no home but the sandbox's own
    root_entries = re.search(r"/root holds: (.*)$", output, re.M)
    assert root_entries is not None
    for secret in (".ssh", ".npmrc", ".builder", ".claude", ".gitconfig", ".aws"):
        assert f"'{secret}'" not in root_entries.group(1)
    assert "/home holds: ['builder']" in output

    # the concrete effects on the host
    worktree = Path(facts["worktree"])
    git = worktree / ".git"
    assert Path(facts["vault_key"]).read_text().strip() == f'{{"k1": "{VAULT_SECRET}"}}'
    assert (git / "config").read_text() == CANONICAL_CONFIG
    assert not (git / "hooks").exists() and not (git / "info").exists()
    assert (git / "HEAD").read_text() == f"ref: refs/heads/{BRANCH}\n"
    shared = Path(facts["pack"])
    assert _loose_object_intact(shared) and shared.stat().st_nlink > 1
    assert not stat.S_IMODE(shared.stat().st_mode) & 0o222
    assert not (worktree / "pack-link").exists()
    assert not os.path.exists(str(listeners["host_tmp_marker"]))
    assert not (Path(facts["vault_key"]).parent / "planted.txt").exists()
    assert not (worktree / "created-suid").exists()
    assert not (worktree / "setuid-me").stat().st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert not Path("/escape.txt").exists()
    assert (worktree / "setuid-me").stat().st_uid == worker.uid  # files stay the worker's


def test_nothing_one_tenants_run_leaves_reaches_another_tenant_or_the_next_run(
    worker: Worker,
) -> None:
    facts = worker.run("plant_across_tenants")
    planted = facts["planted"]["output"]
    assert "Read-only file system" in planted and "exit=0" not in planted, planted
    for view in (facts["b"], facts["a_again"]):
        assert not {"planted.py", "build.log"} & set(view["files"])
        assert not any(f.startswith("node_modules") for f in view["files"])
        assert view["config"] == CANONICAL_CONFIG
    assert facts["b"]["reused"] is False  # tenant B never gets tenant A's workspace
    assert facts["a_again"]["reused"] is True and facts["a_again"]["hooks"] is False
    seen = facts["seen_by_b"]["output"]
    assert "steal()" not in seen and "backdoor" not in seen and ".bashrc" not in seen
    assert "planted" not in seen.replace("planted.py", "")
    assert "looked" in seen


def test_links_and_fifos_a_build_leaves_never_lead_builder_out_of_the_worktree(
    worker: Worker,
) -> None:
    victim_dir = worker.base / "host-dir"
    victim_dir.mkdir()
    (victim_dir / "victim.txt").write_text("host content\n")
    victim_file = worker.base / "host-secret.txt"
    victim_file.write_text("host secret\n")
    for path in (victim_dir, victim_dir / "victim.txt", victim_file):
        os.chown(path, worker.uid, -1)
    facts = worker.run(
        "links_out_of_the_worktree", victim_dir=str(victim_dir), victim_file=str(victim_file)
    )
    assert facts["phase"] != "blocked" and "links made" in facts["phase"]["log"]
    assert facts["phase"]["report"] == "None"  # the linked and FIFO reports were not read
    assert facts["read_pipe"] is None
    assert facts["read_leak"].startswith("PolicyViolation") and "leak.txt" in facts["read_leak"]
    assert facts["read_through_dir"].startswith("PolicyViolation")
    assert not {"leak.txt", "pipe.txt", "TEST-leak.xml"} & set(facts["listed"])
    assert not any(p.startswith("src/pkg0/") for p in facts["listed"])
    assert facts["write_through_dir"].startswith("PolicyViolation")
    assert "src/pkg0/x.txt" in facts["write_through_dir"]
    assert facts["write_leak"].startswith("PolicyViolation") and "leak.txt" in facts["write_leak"]
    assert facts["after_reset"]["pkg0_is_dir"] is True
    assert not {"leak.txt", "pipe.txt", "TEST-blocking.xml"} & set(facts["after_reset"]["files"])
    assert sorted(p.name for p in victim_dir.iterdir()) == ["victim.txt"]
    assert (victim_dir / "victim.txt").read_text() == "host content\n"
    assert victim_file.read_text() == "host secret\n"
    assert "host secret" not in repr(facts) and "host content" not in repr(facts)


def test_tests_that_move_the_branch_change_nothing_and_the_tested_commit_is_pushed(
    worker: Worker,
) -> None:
    facts = worker.run("move_branch_then_push")
    hostile = facts["hostile"]["output"]
    for step in ("update-ref", "commit", "head", "checkout"):
        assert f"{step}=0" not in hostile, hostile
    assert "Read-only file system" in hostile
    assert facts["local_head"] == facts["local_branch"] == facts["tested"]
    assert facts["pushed"] == facts["remote"] == facts["tested"]

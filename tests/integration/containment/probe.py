"""A hostile repository's test command: tries every escape it knows and logs each outcome.

Runs INSIDE the sandbox (copied into the worktree), so it imports nothing of builder. It is
told where the host keeps things (which a real attacker could learn from
/proc/self/mountinfo) and prints one `ATTEMPT <name>: <outcome>` line per try, the outcome
being "ok" or the errno name. The tests then check the host for the concrete effect.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import subprocess
import sys
import time

ARGS = json.loads(sys.argv[1])
NR: dict[str, int] = ARGS["syscalls"]
libc = ctypes.CDLL(None, use_errno=True)

MNT_DETACH = 2
MS_REMOUNT, MS_BIND = 0x20, 0x1000
CLONE_NEWNS, CLONE_NEWUSER, SIGCHLD = 0x00020000, 0x10000000, 17
PTRACE_TRACEME, PTRACE_ATTACH = 0, 16


def report(name: str, outcome: str) -> None:
    print(f"ATTEMPT {name}: {outcome}", flush=True)


def _arg(value: object) -> object:
    if value is None:
        return ctypes.c_void_p(None)
    if isinstance(value, bytes):
        return ctypes.c_char_p(value)
    assert isinstance(value, int)
    return ctypes.c_long(value)


def syscall(name: str, *args: object) -> None:
    """Report the raw result of a system call (bypassing any tool that might lie)."""
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(NR[name]), *[_arg(a) for a in args])
    if result == 0 and name == "clone":
        os._exit(0)  # only reached if the filter let a namespace clone through
    outcome = "ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
    report(f"{name}{ARGS.get('label', '')}", outcome)


def attempt(name: str, action) -> None:  # type: ignore[no-untyped-def]
    try:
        action()
    except OSError as exc:
        report(name, errno.errorcode.get(exc.errno or 0, str(exc)))
    else:
        report(name, "ok")


def run_tool(name: str, argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    report(name, "ok" if done.returncode == 0 else f"exit {done.returncode}")
    for line in (done.stdout + done.stderr).strip().splitlines()[:3]:
        print(f"    {line}")


def read(path: str) -> None:
    with open(path, "rb") as handle:
        handle.read()


def write(path: str, mode: str = "w") -> None:
    with open(path, mode) as handle:
        handle.write("planted by the hostile repository\n")


def connect_tcp(port: int) -> None:
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def connect_unix(path: str) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(path)


def ptrace_a_child() -> None:
    child = os.fork()
    if child == 0:
        time.sleep(5)
        os._exit(0)
    try:
        ARGS["label"] = " own child"
        syscall("ptrace", PTRACE_ATTACH, child, 0, 0)
        ARGS["label"] = ""
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)


def main() -> None:
    state, mirror, branch = ARGS["state_dir"], ARGS["mirror"], ARGS["branch"]
    # secrets and other tenants' things on the host
    attempt("read vault key", lambda: read(ARGS["vault_key"]))
    attempt("list state dir", lambda: os.listdir(state))
    attempt("list mirror", lambda: os.listdir(mirror))
    attempt("list other workspaces", lambda: os.listdir(os.path.dirname(ARGS["worktree"])))
    attempt("read /etc/shadow", lambda: read("/etc/shadow"))
    attempt("read /root/.npmrc", lambda: read("/root/.npmrc"))
    attempt("list /root/.ssh", lambda: os.listdir("/root/.ssh"))
    attempt("list worker home", lambda: os.listdir(ARGS["worker_home"]))
    print("    /root holds:", sorted(os.listdir("/root")) if os.path.isdir("/root") else [])
    print("    /home holds:", sorted(os.listdir("/home")))
    # undo the sandbox's mounts
    for target in (b"/workspace/.git", b"/etc/passwd", b"/tmp", b"/"):
        ARGS["label"] = f" {target.decode()}"
        syscall("umount2", target, MNT_DETACH)
    ARGS["label"] = " remount / rw"
    syscall("mount", None, b"/", None, MS_REMOUNT | MS_BIND, None)
    ARGS["label"] = " bind host root"
    syscall("mount", b"/", b"/workspace/hostroot", None, MS_BIND, None)
    ARGS["label"] = ""
    run_tool("umount -l /workspace/.git", ["umount", "-l", "/workspace/.git"])
    run_tool("mount -o remount,rw /", ["mount", "-o", "remount,rw,bind", "/"])
    attempt("write / after remount", lambda: write("/escape.txt"))
    for name in ("open_tree", "fsopen"):
        syscall(name, 0, b"/", 0)
    # git metadata
    attempt("write .git/config", lambda: write(".git/config", "a"))
    attempt("create .git/hooks", lambda: os.mkdir(".git/hooks"))
    attempt("write .git/info/attributes", lambda: write(".git/info/attributes"))
    attempt("move branch ref", lambda: write(f".git/refs/heads/{branch}"))
    attempt("move HEAD", lambda: write(".git/HEAD"))
    attempt("rename .git away", lambda: os.rename(".git", "git-moved"))
    run_tool("git update-ref", ["git", "update-ref", f"refs/heads/{branch}", "HEAD~0"])
    run_tool("git config core.worktree", ["git", "config", "core.worktree", "/tmp"])
    # the mirror's objects, hardlinked into .git/objects
    pack = ARGS["pack"]
    attempt("open pack for writing", lambda: write(pack, "a"))
    attempt("chmod pack", lambda: os.chmod(pack, 0o644))
    attempt("hardlink pack into worktree", lambda: os.link(pack, "pack-link"))
    # other processes, namespaces, kernel interfaces
    ARGS["label"] = " pid 1"
    syscall("ptrace", PTRACE_ATTACH, 1, 0, 0)
    ARGS["label"] = ""
    ptrace_a_child()
    ARGS["label"] = " traceme"
    syscall("ptrace", PTRACE_TRACEME, 0, 0, 0)
    ARGS["label"] = ""
    attempt("signal the worker", lambda: os.kill(ARGS["worker_pid"], 0))
    syscall("unshare", CLONE_NEWUSER)
    ARGS["label"] = " mount ns"
    syscall("unshare", CLONE_NEWNS)
    ARGS["label"] = " user ns"
    syscall("clone", CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    ARGS["label"] = ""
    run_tool("unshare -U", ["unshare", "-U", "true"])
    run_tool("unshare -r", ["unshare", "-r", "true"])
    syscall("setns", os.open("/proc/1/ns/user", os.O_RDONLY), 0)
    syscall("keyctl", 0, -4, 0)  # KEYCTL_GET_KEYRING_ID of the user keyring
    syscall("add_key", b"user", b"k", b"v", 1, -4)
    syscall("bpf", 5, 0, 0)  # BPF_PROG_LOAD
    syscall("perf_event_open", 0, 0, -1, -1, 0)
    syscall("process_vm_readv", 1, 0, 0, 0, 0, 0)
    # network: a port the test opened, Postgres, and unix sockets on the host
    attempt("connect 127.0.0.1 test port", lambda: connect_tcp(ARGS["tcp_port"]))
    attempt("connect 127.0.0.1:5432", lambda: connect_tcp(5432))
    for path in ARGS["unix_sockets"]:
        attempt(f"connect unix {path}", lambda path=path: connect_unix(path))
    attempt("connect abstract socket", lambda: connect_unix("\0" + ARGS["abstract"]))
    # host writes and privileged files
    attempt("write host /tmp", lambda: write(ARGS["host_tmp_marker"]))
    attempt("write state dir", lambda: write(os.path.join(state, "planted.txt")))
    write("setuid-me")
    attempt("chmod u+s", lambda: os.chmod("setuid-me", 0o4755))
    attempt("create setuid file", lambda: os.close(os.open("created-suid", os.O_CREAT, 0o6755)))
    print("PROBE DONE", flush=True)


if __name__ == "__main__":
    main()

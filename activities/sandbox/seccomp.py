"""The seccomp filter every sandboxed command runs under, as a classic BPF program.

bubblewrap loads it (`--seccomp FD`) right before it executes the command, after it has built
the sandbox's mounts and namespaces. The filter is a second wall behind "no capabilities, no
nested user namespaces": even if a kernel bug handed the command a capability, the system
calls that turn one into an escape (mount, namespaces, ptrace, keyrings, bpf, modules...) stay
refused with EPERM. It also keeps setuid/setgid bits off the files the command creates,
because those files live on the host's filesystem (the worktree) where the bits would work.

Plain Python, no libseccomp: the program is small and the syscall numbers of the two
architectures builder runs on are fixed ABI.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# <linux/audit.h>
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
# x32 syscalls are the x86_64 numbers with this bit set; they enter the same kernel paths.
X32_SYSCALL_BIT = 0x40000000

# <linux/seccomp.h>
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARGS = 16  # the low 32 bits of args[i] are at 16 + 8 * i (little endian)

# <linux/bpf_common.h>
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# <linux/sched.h>: every flag that makes clone create a namespace.
CLONE_NEW_ANY = (
    0x00000080  # CLONE_NEWTIME
    | 0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)
SETUID_SETGID_BITS = 0o6000

# Refused outright with EPERM: filesystem (re)mounting, namespaces, tracing other processes,
# keyrings, eBPF, perf, kernel modules and images, reboot, swap, accounting, userfaultfd
# (a classic exploit primitive), handle-based opens (the "shocker" escape), the kernel log.
DENIED_EPERM: tuple[str, ...] = (
    "mount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "setns",
    "unshare",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "userfaultfd",
    "open_by_handle_at",
    "syslog",
)
# Refused with ENOSYS, which callers read as "this kernel does not have it" and fall back:
# glibc retries clone3 as clone (whose flags this filter can inspect, unlike clone3's struct);
# io_uring would run opens and chmods the filter never sees; openat2's mode is in a struct.
DENIED_ENOSYS: tuple[str, ...] = (
    "clone3",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "openat2",
)
# (syscall, argument index) whose low 32 bits are refused with EPERM when they carry `mask`.
NAMESPACE_FLAG_ARGS: tuple[tuple[str, int], ...] = (("clone", 0),)
MODE_ARGS: tuple[tuple[str, int], ...] = (
    ("chmod", 1),
    ("fchmod", 1),
    ("fchmodat", 2),
    ("fchmodat2", 2),
    ("open", 2),
    ("openat", 3),
    ("creat", 1),
    ("mkdir", 1),
    ("mkdirat", 2),
    ("mknod", 1),
    ("mknodat", 2),
)

# From the kernel's arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/
# unistd.h (aarch64). Syscalls an architecture does not have are simply absent.
_X86_64: dict[str, int] = {
    "open": 2, "ptrace": 101, "syslog": 103, "chmod": 90, "fchmod": 91, "creat": 85,
    "mkdir": 83, "mknod": 133, "clone": 56, "pivot_root": 155, "acct": 163, "mount": 165,
    "umount2": 166, "swapon": 167, "swapoff": 168, "reboot": 169, "init_module": 175,
    "delete_module": 176, "kexec_load": 246, "add_key": 248, "request_key": 249,
    "keyctl": 250, "openat": 257, "mkdirat": 258, "mknodat": 259, "fchmodat": 268,
    "unshare": 272, "perf_event_open": 298, "open_by_handle_at": 304, "setns": 308,
    "process_vm_readv": 310, "process_vm_writev": 311, "finit_module": 313,
    "kexec_file_load": 320, "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
    "openat2": 437, "mount_setattr": 442, "fchmodat2": 452,
}  # fmt: skip
_AARCH64: dict[str, int] = {
    "mknodat": 33, "mkdirat": 34, "umount2": 39, "mount": 40, "pivot_root": 41,
    "fchmod": 52, "fchmodat": 53, "openat": 56, "acct": 89, "unshare": 97,
    "kexec_load": 104, "init_module": 105, "delete_module": 106, "syslog": 116,
    "ptrace": 117, "reboot": 142, "add_key": 217, "request_key": 218, "keyctl": 219,
    "clone": 220, "swapon": 224, "swapoff": 225, "perf_event_open": 241,
    "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270,
    "process_vm_writev": 271, "finit_module": 273, "bpf": 280, "userfaultfd": 282,
    "kexec_file_load": 294, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435, "openat2": 437,
    "mount_setattr": 442, "fchmodat2": 452,
}  # fmt: skip


@dataclass(frozen=True)
class Architecture:
    """One ABI the filter knows: its audit id and syscall numbers."""

    name: str
    audit_arch: int
    syscalls: dict[str, int]
    has_x32: bool


ARCHITECTURES: dict[str, Architecture] = {
    "x86_64": Architecture("x86_64", AUDIT_ARCH_X86_64, _X86_64, has_x32=True),
    "aarch64": Architecture("aarch64", AUDIT_ARCH_AARCH64, _AARCH64, has_x32=False),
}
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}


class UnsupportedArchitecture(RuntimeError):
    """The worker runs on an architecture the filter has no syscall table for."""


def architecture_of(machine: str | None = None) -> Architecture:
    """The filter's table for `machine` (default: this host's)."""
    name = (machine or platform.machine()).lower()
    name = _MACHINE_ALIASES.get(name, name)
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise UnsupportedArchitecture(
            f"no seccomp filter for machine {name!r}: builder's sandbox supports "
            f"{', '.join(sorted(ARCHITECTURES))}"
        ) from None


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def _ret(value: int) -> bytes:
    return _insn(_RET_K, 0, 0, value)


def _errno(number: int) -> int:
    return RET_ERRNO | (number & 0xFFFF)


def filter_program(machine: str | None = None) -> bytes:
    """The compiled filter (an array of `struct sock_filter`) for `machine`.

    Layout: a foreign architecture kills the process; x32 numbers are refused; each denied
    syscall is `jeq nr; ret errno`; each argument rule reloads the number, tests it, loads the
    argument and `jset`s the mask. Every jump is forward and short, so no offset overflows.
    """
    arch = architecture_of(machine)
    table = arch.syscalls
    eperm, enosys = _errno(errno.EPERM), _errno(errno.ENOSYS)
    out = [
        _insn(_LD_W_ABS, 0, 0, OFFSET_ARCH),
        _insn(_JEQ_K, 1, 0, arch.audit_arch),
        _ret(RET_KILL_PROCESS),
        _insn(_LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if arch.has_x32:
        out += [_insn(_JGE_K, 0, 1, X32_SYSCALL_BIT), _ret(eperm)]
    for names, action in ((DENIED_EPERM, eperm), (DENIED_ENOSYS, enosys)):
        for name in names:
            if name in table:
                out += [_insn(_JEQ_K, 0, 1, table[name]), _ret(action)]
    rules = [(name, index, CLONE_NEW_ANY) for name, index in NAMESPACE_FLAG_ARGS]
    rules += [(name, index, SETUID_SETGID_BITS) for name, index in MODE_ARGS]
    for name, index, mask in rules:
        if name not in table:
            continue
        out += [
            _insn(_LD_W_ABS, 0, 0, OFFSET_NR),
            _insn(_JEQ_K, 0, 3, table[name]),
            _insn(_LD_W_ABS, 0, 0, OFFSET_ARGS + 8 * index),
            _insn(_JSET_K, 0, 1, mask),
            _ret(eperm),
        ]
    out.append(_ret(RET_ALLOW))
    return b"".join(out)

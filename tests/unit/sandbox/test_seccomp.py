"""The seccomp program, run through a small classic-BPF interpreter for both architectures."""

from __future__ import annotations

import errno
import struct

import pytest

from activities.sandbox.seccomp import (
    ARCHITECTURES,
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_X86_64,
    DENIED_ENOSYS,
    DENIED_EPERM,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    UnsupportedArchitecture,
    architecture_of,
    filter_program,
)

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
CLONE_THREAD_FLAGS = 0x003D0F00  # what glibc's pthread_create passes
SIGCHLD = 17


def run_filter(program: bytes, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """Evaluate `program` on one seccomp_data the way the kernel does (the subset we emit)."""
    padded = list(args) + [0] * (6 - len(args))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *padded)
    insns = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            (acc,) = struct.unpack_from("<I", data, k)
            pc += 1
        elif code == 0x06:
            return k
        elif code in (0x15, 0x35, 0x45):
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def eperm() -> int:
    return RET_ERRNO | errno.EPERM


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_every_escape_syscall_is_refused_with_eperm_on_both_architectures(machine: str) -> None:
    arch = ARCHITECTURES[machine]
    program = filter_program(machine)
    for name in DENIED_EPERM:
        if name in arch.syscalls:
            assert run_filter(program, arch.syscalls[name], arch.audit_arch) == eperm(), name
    for name in DENIED_ENOSYS:
        got = run_filter(program, arch.syscalls[name], arch.audit_arch)
        assert got == RET_ERRNO | errno.ENOSYS, name
    # the brief's minimum is there on both
    for name in ("mount", "umount2", "pivot_root", "keyctl", "ptrace", "bpf", "perf_event_open"):
        assert name in arch.syscalls


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_clone_is_allowed_for_threads_and_forks_but_not_for_namespaces(machine: str) -> None:
    arch = ARCHITECTURES[machine]
    program = filter_program(machine)
    clone = arch.syscalls["clone"]
    assert run_filter(program, clone, arch.audit_arch, (SIGCHLD,)) == RET_ALLOW
    assert run_filter(program, clone, arch.audit_arch, (CLONE_THREAD_FLAGS,)) == RET_ALLOW
    for flag in (CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWUSER | SIGCHLD):
        assert run_filter(program, clone, arch.audit_arch, (flag,)) == eperm()
    # high bits of the 64-bit argument are ignored by the kernel and by the filter
    assert run_filter(program, clone, arch.audit_arch, (SIGCHLD | 1 << 40,)) == RET_ALLOW


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_setuid_and_setgid_bits_cannot_be_set_but_ordinary_modes_can(machine: str) -> None:
    arch = ARCHITECTURES[machine]
    program = filter_program(machine)
    fchmodat = arch.syscalls["fchmodat"]
    openat = arch.syscalls["openat"]
    assert run_filter(program, fchmodat, arch.audit_arch, (0, 0, 0o755)) == RET_ALLOW
    assert run_filter(program, fchmodat, arch.audit_arch, (0, 0, 0o4755)) == eperm()
    assert run_filter(program, fchmodat, arch.audit_arch, (0, 0, 0o2755)) == eperm()
    assert run_filter(program, openat, arch.audit_arch, (0, 0, 0o101, 0o644)) == RET_ALLOW
    assert run_filter(program, openat, arch.audit_arch, (0, 0, 0o101, 0o6755)) == eperm()


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_ordinary_syscalls_pass(machine: str) -> None:
    arch = ARCHITECTURES[machine]
    program = filter_program(machine)
    for nr in (0, 1, 63, 64, 93, 221):  # read/write/exit/execve on one or the other
        if nr not in arch.syscalls.values():
            assert run_filter(program, nr, arch.audit_arch) == RET_ALLOW


def test_a_foreign_architecture_kills_the_process_and_x32_is_refused() -> None:
    x86 = filter_program("x86_64")
    arm = filter_program("aarch64")
    i386 = 0x40000003
    assert run_filter(x86, 1, i386) == RET_KILL_PROCESS
    assert run_filter(x86, 1, AUDIT_ARCH_AARCH64) == RET_KILL_PROCESS
    assert run_filter(arm, 1, AUDIT_ARCH_X86_64) == RET_KILL_PROCESS
    x32_write = 0x40000000 | 1
    assert run_filter(x86, x32_write, AUDIT_ARCH_X86_64) == eperm()


def test_unknown_machine_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedArchitecture, match="riscv64"):
        architecture_of("riscv64")
    assert architecture_of("amd64").name == "x86_64"
    assert architecture_of("arm64").name == "aarch64"

"""Runs the worker's sandbox the way a container would see it, and reports as JSON.

    unshare --mount --propagation private python -m tests.integration.sandbox.masked_proc MODE

MODE `docker-default` first masks /proc the way Docker does for every container unless
`security_opt: systempaths=unconfined` (moby's default masked and read-only paths: files
under /dev/null, directories under an empty read-only tmpfs, the rest bound read-only);
MODE `systempaths-unconfined` masks nothing. Both then run what a worker runs: the
sandbox runner on a real command, the start-up probe, and the container health check.
Only this process's new mount namespace is changed. It runs as root; bubblewrap creates a
user namespace anyway, so the kernel applies the same rule as to the container's
unprivileged worker: a new proc mount is refused while the existing /proc has something
mounted over parts of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from activities.sandbox import SandboxConfig, SandboxRunner
from activities.sandbox.bubblewrap import bubblewrap_problem
from builder.healthcheck import sandbox_problem
from builder.settings import Settings
from domain.errors import SandboxUnavailable

MASKED = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# what the probe ran before it used the real argv: no --proc, so it passed regardless
OLD_PROBE = ["--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"]


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def mask_like_docker() -> None:
    for path in MASKED:
        if os.path.isdir(path):
            mount("-t", "tmpfs", "-o", "ro", "tmpfs", path)
        elif os.path.exists(path):
            mount("--bind", "/dev/null", path)
    for path in READ_ONLY:
        if os.path.exists(path):
            mount("--bind", path, path)
            mount("-o", "remount,bind,ro", path)


def main(mode: str) -> None:
    if mode == "docker-default":
        mask_like_docker()
    elif mode != "systempaths-unconfined":
        raise SystemExit(f"unknown mode {mode}")
    bwrap = SandboxConfig().bwrap_path
    report: dict[str, object] = {"probe": bubblewrap_problem(SandboxConfig())}
    with tempfile.TemporaryDirectory() as cwd:
        try:
            result = SandboxRunner(SandboxConfig()).run(
                ["sh", "-c", "echo pid $$; ls /proc/1/ns >/dev/null"], Path(cwd), timeout_s=30
            )
            report["run"] = {"ok": result.succeeded, "output": result.output}
        except SandboxUnavailable as error:
            report["run"] = {"ok": False, "output": str(error)}
    report["healthcheck"] = sandbox_problem(Settings(_env_file=None))  # type: ignore[call-arg]
    old = subprocess.run([bwrap, *OLD_PROBE], capture_output=True, text=True, check=False)
    report["old_probe_exit"] = old.returncode
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])

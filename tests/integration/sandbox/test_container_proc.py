"""The worker's sandbox under the restrictions a default Docker container applies.

Docker masks parts of /proc in every container (bubblewrap issues #284 and #505): the kernel
then refuses the fresh /proc bubblewrap mounts for every build and test, so such a worker
can run nothing. The compose file gives the worker `systempaths=unconfined`, which drops the
masks. Each case runs tests/integration/sandbox/masked_proc.py in a mount namespace of its
own (root and util-linux `unshare` needed; CI runs as root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


def in_container(mode: str) -> dict[str, Any]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("needs root and util-linux unshare to build a mount namespace", pytrace=False)
    done = subprocess.run(
        [
            "unshare", "--mount", "--propagation", "private", "--",
            sys.executable, "-m", "tests.integration.sandbox.masked_proc", mode,
        ],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_default_container_refuses_every_real_sandboxed_run_and_the_health_check_says_so() -> (
    None
):
    seen = in_container("docker-default")
    assert not seen["run"]["ok"], "a real run passed although /proc was masked"
    assert "proc" in seen["run"]["output"]
    assert seen["healthcheck"] and "proc" in seen["healthcheck"]
    # the worker's own startup probe runs the real flags, so it reports the problem too;
    # a probe without --proc (the old one) cannot see it
    assert seen["probe"] and "proc" in seen["probe"]
    assert seen["old_probe_exit"] == 0


def test_with_systempaths_unconfined_the_real_run_probe_and_health_check_pass() -> None:
    seen = in_container("systempaths-unconfined")
    assert seen["run"]["ok"], seen["run"]["output"]
    assert seen["probe"] is None
    assert seen["healthcheck"] is None

"""The worker two ways: as root (as `builder dev` runs on these machines) and as a normal
user (as in the production image), each running the scenarios against real bubblewrap."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.services import require_executable
from tests.integration.containment import scenarios

# the real worker against Temporal and Postgres, for the end-to-end test
from tests.integration.workflow.conftest import harness, running_worker  # noqa: F401

WORKER_USER = "builderworker"
REPO_ROOT = Path(__file__).parents[3]


def _worker_account() -> pwd.struct_passwd:
    """The unprivileged account the non-root worker runs as (created when missing)."""
    try:
        return pwd.getpwnam(WORKER_USER)
    except KeyError:
        pass
    useradd = require_executable("useradd", "install passwd (apt-get install passwd)")
    subprocess.run(
        [useradd, "--create-home", "--shell", "/usr/sbin/nologin", WORKER_USER], check=True
    )
    return pwd.getpwnam(WORKER_USER)


@dataclass
class Worker:
    """Runs scenarios as one kind of worker; `base` is a directory that worker owns."""

    mode: str
    base: Path
    account: pwd.struct_passwd | None

    def run(self, name: str, **kwargs: Any) -> dict[str, Any]:
        if self.account is None:
            return scenarios.SCENARIOS[name](str(self.base), **kwargs)
        setpriv = require_executable("setpriv", "install util-linux")
        env = {
            "HOME": self.account.pw_dir,
            "USER": self.account.pw_name,
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(REPO_ROOT),
            "LANG": "C.UTF-8",
            **{k: os.environ[k] for k in ("PYENV_ROOT", "RUSTUP_HOME") if k in os.environ},
        }
        done = subprocess.run(
            [
                setpriv, f"--reuid={self.account.pw_uid}", f"--regid={self.account.pw_gid}",
                "--init-groups", sys.executable, "-m", "tests.integration.containment.scenarios",
                name, json.dumps({"base": str(self.base), **kwargs}),
            ],
            cwd=self.base, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"scenario {name} failed as {WORKER_USER}:\n{done.stderr}"
        return json.loads(done.stdout.strip().splitlines()[-1])

    @property
    def uid(self) -> int:
        return os.getuid() if self.account is None else self.account.pw_uid


@pytest.fixture(params=["root", "user"])
def worker(request: pytest.FixtureRequest) -> Iterator[Worker]:
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    if os.geteuid() != 0:
        pytest.fail(
            "the containment suite runs the worker as root and as a normal user, so it must "
            "start as root (as CI and the dev containers do)",
            pytrace=False,
        )
    account = _worker_account() if request.param == "user" else None
    # not below pytest's tmp dir: that is private to root
    base = Path(tempfile.mkdtemp(prefix="builder-containment-", dir="/var/tmp"))
    if account is not None:
        os.chown(base, account.pw_uid, account.pw_gid)
    try:
        yield Worker(request.param, base, account)
    finally:
        shutil.rmtree(base, ignore_errors=True)

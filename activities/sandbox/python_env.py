"""The setup script of a Python environment: a virtual environment at /env/python made from
the worker's interpreter, with the project installed from the worktree (editable, so the
tests import the change, never an installed copy), its test extras, requirement files and
dependency groups, and the test runner it needs.

The script runs inside the sandbox (the project's build backend is untrusted code); it only
ever writes into /env and the worktree. pip reads no configuration of the worker's (the
sandbox has none of it), so it installs from the package index through setup's egress.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

from activities.sandbox import filesystem as fs
from activities.sandbox.egress import system_ca_bundle
from activities.sandbox.untrusted_files import read_regular_file
from domain.setup_plan import PythonEnvironment, SetupPlan

VENV = f"{fs.ENVIRONMENT}/python"
_PIP = (
    f"{VENV}/bin/python -m pip install --disable-pip-version-check --no-input "
    "--progress-bar off --quiet"
)
_EXTRA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_GROUP_DEPTH = 10


def python_variables() -> dict[str, str]:
    """What makes build and test use the environment (PATH is prefixed by the caller)."""
    variables = {"VIRTUAL_ENV": VENV, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    bundle = system_ca_bundle()
    if bundle is not None:
        variables["PIP_CERT"] = bundle
    return variables


def python_bin() -> str:
    return f"{VENV}/bin"


def python_environment(plan: SetupPlan) -> PythonEnvironment | None:
    """The plan's Python environment, if it has one."""
    return next((e for e in plan.environments if isinstance(e, PythonEnvironment)), None)


def uv_executable() -> str | None:
    """The worker's uv (installed next to its interpreter, else on PATH), which installs a
    `uv.lock` exactly; None when there is none."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("uv")


def setup_script(
    env: PythonEnvironment, worktree: Path, interpreter: str, uv: str | None = None
) -> str:
    """Shell lines that create the environment and install what `env` names: with a
    `uv.lock` and `uv`, exactly the lock (frozen); else pip from the manifests."""
    lines = [f"{shlex.quote(interpreter)} -m venv {VENV}"]
    locked = env.lock_tool == "uv" and env.lock_file and uv and env.install_project
    if locked and (worktree / str(env.lock_file)).is_file():
        assert uv is not None
        lines.append(_uv_sync(env, uv))
        if env.test_packages:
            lines.append(f"{_PIP} {shlex.join(env.test_packages)}")
        return "\n".join(lines)
    args: list[str] = []
    if env.install_project:
        extras = [e for e in env.extras if _EXTRA.match(e)]
        target = fs.WORKSPACE + (f"[{','.join(extras)}]" if extras else "")
        args += ["-e", target] if env.editable else [target]
    for name in env.requirement_files:
        if (worktree / name).is_file() and not (worktree / name).is_symlink():
            args += ["-r", f"{fs.WORKSPACE}/{name}"]
    args += dependency_group_requirements(worktree, env.dependency_groups)
    args += env.test_packages
    if args:
        lines.append(f"{_PIP} {shlex.join(args)}")
    return "\n".join(lines)


def _uv_sync(env: PythonEnvironment, uv: str) -> str:
    """`uv sync --frozen` into the environment's virtual environment: the versions the lock
    names, no resolution; the project editable from the worktree, with its default groups
    (dev), the plan's test extras and dependency groups."""
    args = [uv, "sync", "--frozen", "--project", fs.WORKSPACE, "--python", f"{VENV}/bin/python",
            "--no-python-downloads"]  # fmt: skip
    for extra in env.extras:
        if _EXTRA.match(extra):
            args += ["--extra", extra]
    for group in env.dependency_groups:
        if _EXTRA.match(group):
            args += ["--group", group]
    variables = f"UV_PROJECT_ENVIRONMENT={VENV} UV_LINK_MODE=copy UV_NO_PROGRESS=1"
    return f"{variables} {shlex.join(args)}"


def dependency_group_requirements(worktree: Path, groups: list[str]) -> list[str]:
    """The requirement strings of PEP 735 dependency groups (include-group followed), read
    from the worktree's pyproject.toml; pip of the worker's Python may predate `--group`."""
    if not groups:
        return []
    data = read_regular_file(worktree / "pyproject.toml", worktree, 512_000)
    try:
        table = tomllib.loads(data.decode("utf-8", errors="replace")) if data else {}
    except tomllib.TOMLDecodeError:
        return []
    declared = table.get("dependency-groups")
    if not isinstance(declared, dict):
        return []
    out: list[str] = []
    for group in groups:
        _expand(declared, group, out, 0)
    return list(dict.fromkeys(out))


def _expand(declared: dict[str, Any], group: str, out: list[str], depth: int) -> None:
    items = declared.get(group)
    if depth > MAX_GROUP_DEPTH or not isinstance(items, list):
        return
    for item in items:
        if isinstance(item, str) and item.strip() and not item.strip().startswith("-"):
            out.append(item.strip())  # a requirement, never a pip option
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            _expand(declared, item["include-group"], out, depth + 1)

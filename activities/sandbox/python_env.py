"""The setup script of a Python environment: a virtual environment at /env/python made from
the worker's interpreter, with the project installed from the worktree (editable, so the
tests import the change, never an installed copy), its test extras, requirement files and
dependency groups, and the test runner it needs.

The script runs inside the sandbox (the project's build backend is untrusted code); it only
ever writes into /env and the worktree. pip reads no configuration of the worker's (the
sandbox has none of it), so it installs from the package index through setup's egress.
"""

from __future__ import annotations

import re
import shlex
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


def setup_script(env: PythonEnvironment, worktree: Path, interpreter: str) -> str:
    """Shell lines that create the environment and install what `env` names."""
    lines = [f"{shlex.quote(interpreter)} -m venv {VENV}"]
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

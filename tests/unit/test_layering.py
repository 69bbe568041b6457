"""The layering the architecture promises, checked on the source: what may import what, how
big a module may grow, and what workflow code may contain."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STDLIB = set(sys.stdlib_module_names)


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", ["activities", "persistence", "domain", "workflows"])
def test_nothing_below_the_composition_root_imports_builder(package: str) -> None:
    offenders = [str(p.relative_to(ROOT)) for p in _modules(package) if "builder" in _imports(p)]
    assert offenders == []


def test_workflow_modules_import_only_domain_the_sdk_and_each_other() -> None:
    allowed = STDLIB | {"domain", "workflows", "temporalio", "pydantic"}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) - allowed) for p in _modules("workflows")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_domain_is_pure() -> None:
    allowed = STDLIB | {"domain", "pydantic", "pathspec"}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) - allowed) for p in _modules("domain")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


@pytest.mark.parametrize("package", ["activities", "workflows"])
def test_no_module_outgrows_one_sitting(package: str) -> None:
    too_long = {
        str(p.relative_to(ROOT)): n
        for p in _modules(package)
        if (n := len(p.read_text().splitlines())) > 420
    }
    assert too_long == {}


def test_workflow_code_has_no_assert() -> None:
    # a failed assert in workflow code fails the workflow task, which Temporal retries forever
    asserts = [
        f"{p.relative_to(ROOT)}:{node.lineno}"
        for p in _modules("workflows")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert asserts == []


def test_the_api_process_never_loads_pygit2() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import api.app, sys; print('pygit2' in sys.modules)"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "False"

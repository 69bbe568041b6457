"""The test runner and setup plan come from the project's own configuration, with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activities.analysis import analyze_repository
from activities.analysis.commands import detect_build_systems
from domain.setup_plan import NodeEnvironment, PythonEnvironment
from tests.unit.analysis.test_analyzer import write

UNITTEST_CASE = (
    "import unittest\n\nclass T(unittest.TestCase):\n    def test_x(self):\n        pass\n"
)


def python_test(root: Path) -> tuple[str | None, str]:
    [found] = [d for d in detect_build_systems(root, ["Python"]).found if d.language == "Python"]
    return found.test, found.reasons.get("test", "")


@pytest.mark.parametrize(
    ("files", "command", "reason"),
    [
        (
            {"pyproject.toml": "[project]\nname='x'\n[tool.pytest.ini_options]\n"},
            "python -m pytest -q",
            "pyproject.toml has [tool.pytest.ini_options]",
        ),
        ({"pytest.ini": "[pytest]\n", "setup.py": ""}, "python -m pytest -q", "pytest.ini"),
        ({"setup.cfg": "[tool:pytest]\naddopts = -q\n"}, "python -m pytest -q", "[tool:pytest]"),
        (
            {"tox.ini": "[tox]\n[testenv]\ncommands = {envpython} -m unittest -v {posargs}\n"},
            "python -m unittest -v",
            "tox.ini [testenv] runs unittest",
        ),
        (
            {"tox.ini": "[testenv]\ncommands =\n    pytest {posargs:tests}\n", "setup.py": ""},
            "python -m pytest -q",
            "tox.ini [testenv] runs pytest",
        ),
        (
            {"setup.py": "", "noxfile.py": "def tests(session):\n    session.run('pytest')\n"},
            "python -m pytest -q",
            "noxfile.py runs pytest",
        ),
        (
            {"setup.py": "", "Makefile": "test:\n\tpython3 -m unittest discover -s t\n"},
            "python -m unittest discover -s t",
            "Makefile's test target runs unittest",
        ),
        (
            {"setup.py": "", "tests/__init__.py": "", "tests/test_a.py": UNITTEST_CASE},
            "python -m unittest",
            "unittest.TestCase tests",
        ),
        (
            {"setup.py": "", "tests/test_a.py": UNITTEST_CASE},
            "python -m unittest discover -s tests",
            "no pytest config",
        ),
        (
            {"setup.py": "", "tests/test_a.py": "def test_x():\n    assert True\n"},
            "python -m pytest -q",
            "use pytest",
        ),
        (
            {
                "pyproject.toml": "[project]\nname='x'\n"
                "[project.optional-dependencies]\ntest = ['pytest>=8']\n",
            },
            "python -m pytest -q",
            "the test dependencies include pytest",
        ),
    ],
)
def test_python_runner_comes_from_the_project_with_its_reason(
    tmp_path: Path, files: dict[str, str], command: str, reason: str
) -> None:
    write(tmp_path, files)
    detected, why = python_test(tmp_path)
    assert detected == command
    assert why.startswith(f"{command} (") and reason in why


def test_unittest_project_with_load_tests_is_not_run_with_pytest(tmp_path: Path) -> None:
    # pytest ignores load_tests hooks, so the doctests they add would silently not run
    write(tmp_path, {
        "pyproject.toml": "[project]\nname='x'\n",
        "tests/__init__.py": "",
        "tests/test_a.py": UNITTEST_CASE + "\ndef load_tests(loader, tests, ignore):\n"
        "    return tests\n",
    })  # fmt: skip
    command, why = python_test(tmp_path)
    assert command == "python -m unittest"
    assert "1 with load_tests hooks" in why


def test_python_setup_plan_names_extras_groups_requirements_lock_and_backend(
    tmp_path: Path,
) -> None:
    write(tmp_path, {
        "pyproject.toml": "[build-system]\nrequires = ['flit_core >=3.3']\n"
        "build-backend = 'flit_core.buildapi'\n[project]\nname='x'\n"
        "[project.optional-dependencies]\ntest = ['pytest']\ndocs = ['sphinx']\n"
        "[dependency-groups]\ndev = ['ruff']\n",
        "tests/requirements.txt": "pretend\n",
        "uv.lock": "version = 1\n",
    })  # fmt: skip
    report = analyze_repository(tmp_path)
    [env] = report.setup_plan.environments
    assert env == PythonEnvironment(
        manifest="pyproject.toml",
        install_project=True,
        extras=["test"],
        dependency_groups=["dev"],
        requirement_files=["tests/requirements.txt"],
        lock_file="uv.lock",
        lock_tool="uv",
        build_requires=["flit_core >=3.3"],
        test_packages=[],  # pytest is declared by the test extra
    )
    assert report.setup_plan.dependency_files == [
        "pyproject.toml", "tests/requirements.txt", "uv.lock",
    ]  # fmt: skip
    assert report.setup_command is None


@pytest.mark.parametrize(
    ("lock", "manager", "setup", "test"),
    [
        ("package-lock.json", "npm", "npm ci", "npm run test --silent"),
        ("pnpm-lock.yaml", "pnpm", "pnpm install --frozen-lockfile", "pnpm run test"),
        ("yarn.lock", "yarn", "yarn install --frozen-lockfile", "yarn run test"),
        (None, "npm", "npm install", "npm run test --silent"),
    ],
)
def test_node_package_manager_follows_the_lock_file(
    tmp_path: Path, lock: str | None, manager: str, setup: str, test: str
) -> None:
    package = {"name": "p", "scripts": {"test": "node --test"}}
    write(tmp_path, {"package.json": json.dumps(package), "index.js": "module.exports = 1\n"})
    if lock:
        write(tmp_path, {lock: "{}"})
    report = analyze_repository(tmp_path)
    assert (report.setup_command, report.test_command) == (setup, test)
    assert report.command_reasons["test_command"] == (
        f"{test} (package.json scripts.test runs node --test)"
    )
    [env] = report.setup_plan.environments
    assert env == NodeEnvironment(manager=manager, lock_file=lock, frozen=lock is not None)  # type: ignore[arg-type]


def test_package_manager_field_wins_over_lock_files(tmp_path: Path) -> None:
    package = {"name": "p", "packageManager": "pnpm@9.1.0", "scripts": {"test": "vitest run"}}
    write(tmp_path, {"package.json": json.dumps(package), "package-lock.json": "{}"})
    report = analyze_repository(tmp_path)
    assert report.test_command == "pnpm run test"
    assert "packageManager is pnpm@9.1.0" in report.command_reasons["setup_command"]
    assert "runs vitest" in report.command_reasons["test_command"]


def test_cargo_and_go_reasons_are_recorded(tmp_path: Path) -> None:
    write(tmp_path, {"Cargo.toml": "[package]\nname='x'\n", "src/lib.rs": "pub fn f() {}\n"})
    report = analyze_repository(tmp_path)
    assert report.test_command == "cargo test --quiet --no-fail-fast"
    assert "doc-tests" in report.command_reasons["test_command"]
    go = tmp_path / "go"
    write(go, {"go.mod": "module example.com/x\n\ngo 1.22\n", "x.go": "package x\n"})
    report = analyze_repository(go)
    assert report.test_command == "go test ./..."
    assert report.setup_plan.environments[0].model_dump()["go_version"] == "1.22"

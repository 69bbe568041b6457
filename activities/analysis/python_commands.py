"""Python projects: the test runner the project itself configures (tox, nox, pytest
configuration, a Makefile recipe), else what its tests and test dependencies use, and the
environment setup must prepare (a PythonEnvironment of the setup plan)."""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path
from typing import Any

from activities.analysis.detection import (
    MAX_TEST_FILES,
    PY_LOCKS,
    TEST_EXTRAS,
    TEST_FILE_BYTES,
    TEST_REQUIREMENTS,
    DetectedCommands,
    existing_files,
    parse_ini,
    read_manifest,
)
from activities.analysis.report import BuildSystem
from domain.setup_plan import (
    PythonEnvironment,
)

_TOX_PLACEHOLDER = re.compile(r"\{(envpython|envbindir|posargs|toxinidir|tox_root)[^}]*\}/?")


def _runner_in(line: str) -> str | None:
    """'pytest' or 'unittest' when a command line runs one of them."""
    if re.search(r"(^|[\s/\"'])(py\.test|pytest)(\s|$|[\"'])|-m\s+pytest\b", line):
        return "pytest"
    if re.search(r"-m\s+unittest\b", line) or re.search(r"[\"']unittest[\"']", line):
        return "unittest"
    return None


def _unittest_command(line: str) -> str:
    """A tox/Makefile unittest line as a plain command: `python -m unittest <its args>`."""
    cleaned = _TOX_PLACEHOLDER.sub("", line)
    cleaned = re.sub(r"\$\{?\w+\}?|\$\(\w+\)", "", cleaned)
    args = cleaned.split("-m", 1)[1].split(None, 1)
    rest = args[1].strip() if len(args) > 1 else ""
    return f"python -m unittest {rest}".strip()


def _tox_runner(tox: configparser.ConfigParser | None) -> tuple[str, str] | None:
    if tox is None or not tox.has_section("testenv"):
        return None
    commands = tox.get("testenv", "commands", fallback="")
    for line in commands.splitlines():
        runner = _runner_in(line)
        if runner is not None:
            return runner, line.strip()
    return None


def _nox_runner(text: str | None) -> str | None:
    if text is None:
        return None
    for call in re.findall(r"session\.run\(([^)]*)\)", text):
        runner = _runner_in(call)
        if runner is not None:
            return runner
    return None


def _make_runner(root: Path) -> tuple[str, str] | None:
    name = next((n for n in ("Makefile", "makefile", "GNUmakefile") if (root / n).is_file()), None)
    text = read_manifest(root, name) if name else None
    if not text:
        return None
    match = re.search(r"^(test|check)\s*:[^\n]*\n((?:\t[^\n]*\n?)+)", text, re.M)
    if match is None:
        return None
    for line in match.group(2).splitlines():
        runner = _runner_in(line)
        if runner is not None:
            return runner, line.strip()
    return None


def _pytest_config(root: Path, data: dict[str, Any], setup_cfg: Any, tox: Any) -> str | None:
    """Where the project configures pytest, if it does."""
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    if isinstance(tool, dict) and isinstance(tool.get("pytest"), dict):
        inner = tool["pytest"]
        return (
            "pyproject.toml has [tool.pytest.ini_options]"
            if "ini_options" in inner
            else "pyproject.toml has [tool.pytest]"
        )
    if (root / "pytest.ini").is_file():
        return "pytest.ini configures pytest"
    if setup_cfg is not None and setup_cfg.has_section("tool:pytest"):
        return "setup.cfg has [tool:pytest]"
    if tox is not None and tox.has_section("pytest"):
        return "tox.ini has [pytest]"
    for conftest in ("conftest.py", "tests/conftest.py", "test/conftest.py"):
        if (root / conftest).is_file():
            return f"{conftest} is a pytest plugin file"
    return None


def _test_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder in ("tests", "test", "testing"):
        base = root / folder
        if base.is_dir():
            for path in sorted(base.rglob("*.py")):
                if len(found) >= MAX_TEST_FILES:
                    return found
                if path.name.startswith("test") or path.name.endswith("_test.py"):
                    found.append(path)
    found += sorted(root.glob("test_*.py"))[:20]
    return found


def _test_style(root: Path) -> tuple[str, str] | None:
    """What the test files themselves are written for."""
    pytest_files = unittest_files = load_tests = 0
    files = _test_files(root)
    for path in files:
        try:
            with open(path, "rb") as handle:
                text = handle.read(TEST_FILE_BYTES).decode("utf-8", errors="replace")
        except OSError:
            continue
        if re.search(r"^\s*(import pytest|from pytest\b)|@pytest\.", text, re.M):
            pytest_files += 1
        elif re.search(r"^def test_\w*\(", text, re.M) and "unittest" not in text:
            pytest_files += 1  # bare test functions: only pytest collects them
        elif re.search(r"unittest\.TestCase|from unittest import|TestCase\)", text):
            unittest_files += 1
        if re.search(r"^def load_tests\(", text, re.M):
            load_tests += 1
    if not files:
        return None
    where = (
        files[0].relative_to(root).parts[0] if len(files[0].relative_to(root).parts) > 1 else "."
    )
    if pytest_files:
        return "pytest", f"{pytest_files} test file(s) under {where}/ use pytest"
    if unittest_files:
        hooks = f", {load_tests} with load_tests hooks" if load_tests else ""
        return "unittest", f"{where}/ holds unittest.TestCase tests{hooks} and no pytest config"
    return None


def _declared_test_deps(data: dict[str, Any], root: Path) -> tuple[list[str], list[str], list[str]]:
    """(extras, dependency groups, requirement files) that hold the tests' dependencies."""
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    optional = project.get("optional-dependencies") if isinstance(project, dict) else None
    extras = [e for e in TEST_EXTRAS if isinstance(optional, dict) and e in optional]
    groups_table = data.get("dependency-groups")
    groups = [g for g in TEST_EXTRAS if isinstance(groups_table, dict) and g in groups_table]
    files = existing_files(root, list(TEST_REQUIREMENTS))
    return extras, groups, files


def _mentions_pytest(data: dict[str, Any], root: Path, extras: list[str], groups: list[str],
                     files: list[str]) -> bool:  # fmt: skip
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    optional = project.get("optional-dependencies", {}) if isinstance(project, dict) else {}
    declared: list[Any] = []
    for extra in extras:
        declared += optional.get(extra, []) if isinstance(optional, dict) else []
    table = data.get("dependency-groups")
    for group in groups:
        declared += table.get(group, []) if isinstance(table, dict) else []
    texts = [str(d) for d in declared] + [(read_manifest(root, f) or "") for f in files]
    return any(re.search(r"(^|\W)pytest(\W|$)", t, re.I | re.M) for t in texts)


def detect_python(root: Path) -> DetectedCommands | None:
    pyproject = read_manifest(root, "pyproject.toml")
    setup_cfg_text = read_manifest(root, "setup.cfg")
    has_setup_py = (root / "setup.py").is_file()
    requirements = (root / "requirements.txt").is_file()
    tox_text = read_manifest(root, "tox.ini")
    if not (pyproject or setup_cfg_text or has_setup_py or requirements or tox_text):
        return None
    manifest = next(
        n for n, present in (("pyproject.toml", pyproject is not None),
                             ("setup.cfg", setup_cfg_text is not None),
                             ("setup.py", has_setup_py), ("requirements.txt", requirements),
                             ("tox.ini", True)) if present
    )  # fmt: skip
    data: dict[str, Any] = {}
    if pyproject:
        try:
            data = tomllib.loads(pyproject)
        except tomllib.TOMLDecodeError:
            data = {}
    setup_cfg, tox = parse_ini(setup_cfg_text), parse_ini(tox_text)
    extras, groups, req_files = _declared_test_deps(data, root)
    test, reason = _python_test(root, data, setup_cfg, tox, extras, groups, req_files)
    installable = bool(data.get("project") or data.get("build-system") or has_setup_py)
    build_system = data.get("build-system") if isinstance(data.get("build-system"), dict) else {}
    build_requires = [
        str(r) for r in (build_system or {}).get("requires", []) if isinstance(r, str)
    ]
    lock = next(((f, tool) for f, tool in PY_LOCKS if (root / f).is_file()), None)
    runner_package = "pytest" if test.startswith("python -m pytest") else None
    declares_runner = _mentions_pytest(data, root, extras, groups, req_files)
    environment = PythonEnvironment(
        manifest=manifest,
        install_project=installable,
        extras=extras,
        dependency_groups=groups,
        requirement_files=(["requirements.txt"] if requirements else []) + req_files,
        lock_file=lock[0] if lock else None,
        lock_tool=lock[1] if lock else None,
        build_requires=build_requires,
        test_packages=[runner_package] if runner_package and not declares_runner else [],
    )
    dependency_files = existing_files(
        root,
        ["pyproject.toml", "setup.py", "setup.cfg", "requirements.txt",
         *req_files, *(f for f, _ in PY_LOCKS)],
    )  # fmt: skip
    return DetectedCommands(
        system=BuildSystem(name="python", manifest=manifest),
        language="Python",
        setup=None,
        build="python -m compileall -q .",
        test=test,
        reasons={
            "setup": "Python installs go into the repository's environment (setup plan), "
            "not through a setup command",
            "build": f"{manifest}: byte-compiling catches syntax errors without installing",
            "test": f"{test} ({reason})",
        },
        environment=environment,
        dependency_files=sorted(set(dependency_files)),
    )


def _python_test(
    root: Path,
    data: dict[str, Any],
    setup_cfg: configparser.ConfigParser | None,
    tox: configparser.ConfigParser | None,
    extras: list[str],
    groups: list[str],
    req_files: list[str],
) -> tuple[str, str]:
    pytest = "python -m pytest -q"
    from_tox = _tox_runner(tox)
    if from_tox is not None:
        runner, line = from_tox
        if runner == "pytest":
            return pytest, f"tox.ini [testenv] runs pytest: {line}"
        return _unittest_command(line), f"tox.ini [testenv] runs unittest: {line}"
    from_nox = _nox_runner(read_manifest(root, "noxfile.py"))
    if from_nox == "pytest":
        return pytest, "noxfile.py runs pytest in a session"
    if from_nox == "unittest":
        return "python -m unittest", "noxfile.py runs unittest in a session"
    config = _pytest_config(root, data, setup_cfg, tox)
    if config is not None:
        return pytest, config
    from_make = _make_runner(root)
    if from_make is not None:
        runner, line = from_make
        if runner == "pytest":
            return pytest, f"the Makefile's test target runs pytest: {line}"
        return _unittest_command(line), f"the Makefile's test target runs unittest: {line}"
    style = _test_style(root)
    if style is not None and style[0] == "unittest":
        return _unittest_discovery(root), style[1]
    if style is not None:
        return pytest, style[1]
    if _mentions_pytest(data, root, extras, groups, req_files):
        return pytest, "the test dependencies include pytest"
    return _unittest_discovery(root), "no test runner configured: unittest discovery"


def _unittest_discovery(root: Path) -> str:
    for folder in ("tests", "test"):
        if (root / folder).is_dir() and not (root / folder / "__init__.py").is_file():
            # not a package: discovery must start inside it (the root stays importable)
            return f"python -m unittest discover -s {folder}"
    return "python -m unittest"


# -- Node ------------------------------------------------------------------------------------

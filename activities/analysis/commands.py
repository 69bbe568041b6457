"""Build systems of a repository, the build/test commands they imply, why, and what the
environment must install (a declarative SetupPlan entry, see domain/setup_plan.py).

The project decides, not folder names: a test runner is taken from the project's own
configuration first (tox envs, nox sessions, pytest configuration, Makefile test recipes,
package.json scripts), then from what its test files and test dependencies use. Only files at
the repository root (and its top test folder) are read, each bounded in size. Test commands
are chosen to run quickly and print deterministic results (quiet flags, no watch mode).

Python gets no setup *command*: installing into the worker's interpreter cannot work (no
network, read-only site-packages) and must not (tests would see the installed copy); the
environment builder installs the SetupPlan entry into a per-repository environment instead.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from activities.analysis.report import BuildSystem
from activities.sandbox.untrusted_files import read_regular_file
from domain.setup_plan import (
    EnvironmentSpec,
    GoEnvironment,
    JvmEnvironment,
    NodeEnvironment,
    PythonEnvironment,
    RustEnvironment,
)

_MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", re.M)
_NPM_NO_TEST = "no test specified"
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
_TEST_REQUIREMENTS = (
    "requirements-test.txt",
    "requirements-tests.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "requirements-dev.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "tests/requirements.txt",
)
_PY_LOCKS = (("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm"),
             ("Pipfile.lock", "pipenv"))  # fmt: skip
_MAX_TEST_FILES = 200
_TEST_FILE_BYTES = 64_000


@dataclass
class DetectedCommands:
    """Commands found for one build system, why each was chosen, and what setup installs."""

    system: BuildSystem
    language: str | None
    setup: str | None = None
    build: str | None = None
    test: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    environment: EnvironmentSpec | None = None
    dependency_files: list[str] = field(default_factory=list)


@dataclass
class CommandDetection:
    """Every build system found, in the order their commands are preferred."""

    found: list[DetectedCommands] = field(default_factory=list)


def _read(root: Path, name: str, limit: int = 512_000) -> str | None:
    # a manifest may be a symlink the repository planted (to a host file) or a FIFO
    data = read_regular_file(root / name, root, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def _ini(text: str | None) -> configparser.ConfigParser | None:
    if text is None:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser


def _existing(root: Path, names: tuple[str, ...] | list[str]) -> list[str]:
    return [n for n in names if (root / n).is_file()]


# -- Python ----------------------------------------------------------------------------------

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
    text = _read(root, name) if name else None
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
                if len(found) >= _MAX_TEST_FILES:
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
                text = handle.read(_TEST_FILE_BYTES).decode("utf-8", errors="replace")
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
    extras = [e for e in _TEST_EXTRAS if isinstance(optional, dict) and e in optional]
    groups_table = data.get("dependency-groups")
    groups = [g for g in _TEST_EXTRAS if isinstance(groups_table, dict) and g in groups_table]
    files = _existing(root, list(_TEST_REQUIREMENTS))
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
    texts = [str(d) for d in declared] + [(_read(root, f) or "") for f in files]
    return any(re.search(r"(^|\W)pytest(\W|$)", t, re.I | re.M) for t in texts)


def _python(root: Path) -> DetectedCommands | None:
    pyproject = _read(root, "pyproject.toml")
    setup_cfg_text = _read(root, "setup.cfg")
    has_setup_py = (root / "setup.py").is_file()
    requirements = (root / "requirements.txt").is_file()
    tox_text = _read(root, "tox.ini")
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
    setup_cfg, tox = _ini(setup_cfg_text), _ini(tox_text)
    extras, groups, req_files = _declared_test_deps(data, root)
    test, reason = _python_test(root, data, setup_cfg, tox, extras, groups, req_files)
    installable = bool(data.get("project") or data.get("build-system") or has_setup_py)
    build_system = data.get("build-system") if isinstance(data.get("build-system"), dict) else {}
    build_requires = [
        str(r) for r in (build_system or {}).get("requires", []) if isinstance(r, str)
    ]
    lock = next(((f, tool) for f, tool in _PY_LOCKS if (root / f).is_file()), None)
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
    dependency_files = _existing(
        root,
        ["pyproject.toml", "setup.py", "setup.cfg", "requirements.txt",
         *req_files, *(f for f, _ in _PY_LOCKS)],
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
    from_nox = _nox_runner(_read(root, "noxfile.py"))
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


def _node_manager(root: Path, manifest: dict[str, Any]) -> tuple[str, str | None, str]:
    """(manager, lock file, why)."""
    declared = manifest.get("packageManager")
    if isinstance(declared, str) and declared.split("@")[0] in ("npm", "pnpm", "yarn", "bun"):
        name = declared.split("@")[0]
        lock = {"npm": "package-lock.json", "pnpm": "pnpm-lock.yaml", "yarn": "yarn.lock",
                "bun": "bun.lockb"}[name]  # fmt: skip
        return name, lock if (root / lock).is_file() else None, f"packageManager is {declared}"
    for lock, name in (("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lockb", "bun"),
                       ("bun.lock", "bun"), ("package-lock.json", "npm"),
                       ("npm-shrinkwrap.json", "npm")):  # fmt: skip
        if (root / lock).is_file():
            return name, lock, f"{lock} is {name}'s lock file"
    return "npm", None, "no lock file: npm"


def _js_runner(script: str) -> str:
    for runner, pattern in (
        ("node --test", r"\bnode\b[^&|;]*--test\b"),
        ("jest", r"\bjest\b"),
        ("vitest", r"\bvitest\b"),
        ("mocha", r"\bmocha\b"),
        ("ava", r"\bava\b"),
        ("tap", r"\btap\b"),
        ("tape", r"\btape\b"),
    ):
        if re.search(pattern, script):
            return runner
    return script.split()[0] if script.split() else "a script"


def _node(root: Path) -> DetectedCommands | None:
    text = _read(root, "package.json")
    if text is None:
        return None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        loaded = {}
    manifest: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
    scripts = manifest.get("scripts") if isinstance(manifest.get("scripts"), dict) else {}
    scripts = scripts or {}
    tool, lock, why = _node_manager(root, manifest)
    yarn_berry = tool == "yarn" and (root / ".yarnrc.yml").is_file()
    install = {
        "npm": "npm ci" if lock else "npm install",
        "pnpm": "pnpm install --frozen-lockfile",
        "yarn": "yarn install --immutable" if yarn_berry else "yarn install --frozen-lockfile",
        "bun": "bun install --frozen-lockfile",
    }[tool]
    run = f"{tool} run"
    test_script = scripts.get("test")
    test = None
    reasons = {"setup": f"{install} ({why})"}
    if isinstance(test_script, str) and _NPM_NO_TEST not in test_script:
        test = f"{run} test --silent" if tool == "npm" else f"{run} test"
        reasons["test"] = f"{test} (package.json scripts.test runs {_js_runner(test_script)})"
    build = f"{run} build" if "build" in scripts else None
    if build:
        reasons["build"] = f"{build} (package.json has a build script)"
    typescript = (root / "tsconfig.json").is_file()
    return DetectedCommands(
        system=BuildSystem(name=tool, manifest="package.json"),
        language="TypeScript" if typescript else "JavaScript",
        setup=install,
        build=build,
        test=test,
        reasons=reasons,
        environment=NodeEnvironment(manager=tool, lock_file=lock, frozen=lock is not None),
        dependency_files=["package.json", *([lock] if lock else [])],
    )


# -- other ecosystems ------------------------------------------------------------------------


def _go(root: Path) -> DetectedCommands | None:
    text = _read(root, "go.mod")
    if text is None:
        return None
    version = re.search(r"^go\s+(\S+)", text, re.M)
    has_sum = (root / "go.sum").is_file()
    return DetectedCommands(
        system=BuildSystem(name="go", manifest="go.mod"),
        language="Go",
        setup="go mod download",
        build="go build ./...",
        test="go test ./...",
        reasons={
            "setup": "go mod download (go.mod)",
            "build": "go build ./... (go.mod)",
            "test": "go test ./... (go.mod: every package's tests)",
        },
        environment=GoEnvironment(
            go_version=version.group(1) if version else None, has_sum=has_sum
        ),
        dependency_files=["go.mod", *(["go.sum"] if has_sum else [])],
    )


def _cargo(root: Path) -> DetectedCommands | None:
    if not (root / "Cargo.toml").is_file():
        return None
    lock = "Cargo.lock" if (root / "Cargo.lock").is_file() else None
    toolchain = next(iter(_existing(root, ["rust-toolchain.toml", "rust-toolchain"])), None)
    return DetectedCommands(
        system=BuildSystem(name="cargo", manifest="Cargo.toml"),
        language="Rust",
        setup="cargo fetch",
        build="cargo build --quiet",
        test="cargo test --quiet --no-fail-fast",
        reasons={
            "setup": "cargo fetch (Cargo.toml)",
            "build": "cargo build (Cargo.toml)",
            "test": "cargo test --quiet --no-fail-fast (Cargo.toml: every test binary and the "
            "doc-tests, none skipped after a failure)",
        },
        environment=RustEnvironment(lock_file=lock, toolchain_file=toolchain),
        dependency_files=["Cargo.toml", *([lock] if lock else []), *([toolchain] if toolchain
                                                                      else [])],
    )  # fmt: skip


def _maven(root: Path) -> DetectedCommands | None:
    if not (root / "pom.xml").is_file():
        return None
    wrapper = (root / "mvnw").is_file()
    mvn = "./mvnw" if wrapper else "mvn"
    return DetectedCommands(
        system=BuildSystem(name="maven", manifest="pom.xml"),
        language="Java",
        setup=f"{mvn} -q -B dependency:resolve",
        build=f"{mvn} -q -B -DskipTests package",
        test=f"{mvn} -q -B test",
        reasons={
            k: f"{v} (pom.xml{', ./mvnw' if wrapper else ''})"
            for k, v in (
                ("setup", "dependency:resolve"),
                ("build", "package without tests"),
                ("test", "mvn test: surefire writes JUnit"),
            )
        },
        environment=JvmEnvironment(kind="maven", wrapper=wrapper),
        dependency_files=["pom.xml"],
    )


def _gradle(root: Path) -> DetectedCommands | None:
    manifest = next((n for n in ("build.gradle.kts", "build.gradle") if (root / n).is_file()), None)
    if manifest is None:
        return None
    wrapper = (root / "gradlew").is_file()
    gradle = "./gradlew" if wrapper else "gradle"
    return DetectedCommands(
        system=BuildSystem(name="gradle", manifest=manifest),
        language="Kotlin" if manifest.endswith(".kts") else "Java",
        setup=None,
        build=f"{gradle} --quiet build -x test",
        test=f"{gradle} --quiet test",
        reasons={
            "build": f"{gradle} build without tests ({manifest})",
            "test": f"{gradle} test ({manifest}: JUnit under build/test-results)",
        },
        environment=JvmEnvironment(kind="gradle", wrapper=wrapper),
        dependency_files=_existing(
            root, [manifest, "settings.gradle", "settings.gradle.kts", "gradle.properties"]
        ),
    )


def _make(root: Path) -> DetectedCommands | None:
    name = next((n for n in ("Makefile", "makefile", "GNUmakefile") if (root / n).is_file()), None)
    if name is None:
        return None
    targets = set(_MAKE_TARGET.findall(_read(root, name) or ""))
    chosen: dict[str, tuple[str, str]] = {}
    if "install" in targets:
        chosen["setup"] = ("make install", "install")
    if "build" in targets or "all" in targets:
        chosen["build"] = ("make build", "build") if "build" in targets else ("make", "all")
    if "test" in targets or "check" in targets:
        chosen["test"] = ("make test", "test") if "test" in targets else ("make check", "check")
    setup, build, test = (chosen[k][0] if k in chosen else None for k in ("setup", "build", "test"))
    reasons = {k: f"{cmd} ({name} has a {target!r} target)" for k, (cmd, target) in chosen.items()}
    return DetectedCommands(
        system=BuildSystem(name="make", manifest=name),
        language=None,
        setup=setup,
        build=build,
        test=test,
        reasons=reasons,
    )


_DETECTORS = (_python, _node, _go, _cargo, _maven, _gradle, _make)


def detect_build_systems(root: Path, language_rank: list[str]) -> CommandDetection:
    """Build systems at `root`, ordered so the one of the dominant language comes first.

    Make comes last: it is a fallback for repositories without a language-native tool.
    """
    found = [d for d in (det(root) for det in _DETECTORS) if d is not None]

    def rank(d: DetectedCommands) -> int:
        if d.language is None:
            return len(language_rank) + 1
        if d.language in language_rank:
            return language_rank.index(d.language)
        # TypeScript repos still build through package.json
        if d.language == "TypeScript" and "JavaScript" in language_rank:
            return language_rank.index("JavaScript")
        if d.language == "JavaScript" and "TypeScript" in language_rank:
            return language_rank.index("TypeScript")
        return len(language_rank)

    found.sort(key=rank)
    return CommandDetection(found=found)

"""Build systems of a repository and the setup/build/test commands they imply.

Only manifests at the repository root decide the commands; test commands are chosen to run
quickly and print deterministic results (quiet flags, no watch mode).
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from activities.analysis.report import BuildSystem
from activities.sandbox.untrusted_files import read_regular_file

_MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", re.M)
_NPM_NO_TEST = "no test specified"


@dataclass
class DetectedCommands:
    """Commands found for one build system, with the manifest that implied them."""

    system: BuildSystem
    language: str | None
    setup: str | None = None
    build: str | None = None
    test: str | None = None


@dataclass
class CommandDetection:
    """Every build system found, in the order their commands are preferred."""

    found: list[DetectedCommands] = field(default_factory=list)


def _read(root: Path, name: str, limit: int = 512_000) -> str | None:
    # a manifest may be a symlink the repository planted (to a host file) or a FIFO
    data = read_regular_file(root / name, root, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def _python(root: Path) -> DetectedCommands | None:
    pyproject = _read(root, "pyproject.toml")
    setup_cfg = _read(root, "setup.cfg")
    has_setup_py = (root / "setup.py").is_file()
    requirements = (root / "requirements.txt").is_file()
    tox = _read(root, "tox.ini")
    if not (pyproject or setup_cfg or has_setup_py or requirements or tox):
        return None
    manifest = (
        "pyproject.toml"
        if pyproject is not None
        else "setup.cfg"
        if setup_cfg is not None
        else "setup.py"
        if has_setup_py
        else "requirements.txt"
        if requirements
        else "tox.ini"
    )
    data: dict = {}
    if pyproject:
        try:
            data = tomllib.loads(pyproject)
        except tomllib.TOMLDecodeError:
            data = {}
    installable = bool(data.get("project") or data.get("build-system") or has_setup_py)
    setup_steps = []
    if requirements:
        setup_steps.append("python -m pip install -r requirements.txt")
    if installable:
        setup_steps.append("python -m pip install -e .")
    uses_pytest = (
        "pytest" in (pyproject or "")
        or "pytest" in (setup_cfg or "")
        or "pytest" in (tox or "")
        or (root / "pytest.ini").is_file()
        or (root / "conftest.py").is_file()
        or (root / "tests").is_dir()
        or (root / "test").is_dir()
    )
    if setup_cfg and not uses_pytest:
        parser = configparser.ConfigParser()
        try:
            parser.read_string(setup_cfg)
            uses_pytest = parser.has_section("tool:pytest")
        except configparser.Error:
            pass
    test = "python -m pytest -q" if uses_pytest else "python -m unittest discover -q"
    return DetectedCommands(
        system=BuildSystem(name="python", manifest=manifest),
        language="Python",
        setup=" && ".join(setup_steps) or None,
        build="python -m compileall -q .",
        test=test,
    )


def _node(root: Path) -> DetectedCommands | None:
    text = _read(root, "package.json")
    if text is None:
        return None
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError:
        manifest = {}
    scripts = manifest.get("scripts") or {} if isinstance(manifest, dict) else {}
    if (root / "pnpm-lock.yaml").is_file():
        tool, install, run = "pnpm", "pnpm install --frozen-lockfile", "pnpm run"
    elif (root / "yarn.lock").is_file():
        tool, install, run = "yarn", "yarn install --frozen-lockfile", "yarn run"
    else:
        lock = (root / "package-lock.json").is_file()
        tool, install, run = "npm", "npm ci" if lock else "npm install", "npm run"
    test_script = scripts.get("test")
    test = None
    if isinstance(test_script, str) and _NPM_NO_TEST not in test_script:
        test = f"{run} test --silent" if tool == "npm" else f"{run} test"
    build = f"{run} build" if "build" in scripts else None
    typescript = (root / "tsconfig.json").is_file()
    return DetectedCommands(
        system=BuildSystem(name=tool, manifest="package.json"),
        language="TypeScript" if typescript else "JavaScript",
        setup=install,
        build=build,
        test=test,
    )


def _go(root: Path) -> DetectedCommands | None:
    if not (root / "go.mod").is_file():
        return None
    return DetectedCommands(
        system=BuildSystem(name="go", manifest="go.mod"),
        language="Go",
        setup="go mod download",
        build="go build ./...",
        test="go test ./...",
    )


def _cargo(root: Path) -> DetectedCommands | None:
    if not (root / "Cargo.toml").is_file():
        return None
    return DetectedCommands(
        system=BuildSystem(name="cargo", manifest="Cargo.toml"),
        language="Rust",
        setup="cargo fetch",
        build="cargo build --quiet",
        test="cargo test --quiet",
    )


def _maven(root: Path) -> DetectedCommands | None:
    if not (root / "pom.xml").is_file():
        return None
    mvn = "./mvnw" if (root / "mvnw").is_file() else "mvn"
    return DetectedCommands(
        system=BuildSystem(name="maven", manifest="pom.xml"),
        language="Java",
        setup=f"{mvn} -q -B dependency:resolve",
        build=f"{mvn} -q -B -DskipTests package",
        test=f"{mvn} -q -B test",
    )


def _gradle(root: Path) -> DetectedCommands | None:
    manifest = next((n for n in ("build.gradle.kts", "build.gradle") if (root / n).is_file()), None)
    if manifest is None:
        return None
    gradle = "./gradlew" if (root / "gradlew").is_file() else "gradle"
    return DetectedCommands(
        system=BuildSystem(name="gradle", manifest=manifest),
        language="Kotlin" if manifest.endswith(".kts") else "Java",
        setup=None,
        build=f"{gradle} --quiet build -x test",
        test=f"{gradle} --quiet test",
    )


def _make(root: Path) -> DetectedCommands | None:
    name = next((n for n in ("Makefile", "makefile", "GNUmakefile") if (root / n).is_file()), None)
    if name is None:
        return None
    targets = set(_MAKE_TARGET.findall(_read(root, name) or ""))
    return DetectedCommands(
        system=BuildSystem(name="make", manifest=name),
        language=None,
        setup="make install" if "install" in targets else None,
        build="make build" if "build" in targets else "make" if "all" in targets else None,
        test="make test" if "test" in targets else "make check" if "check" in targets else None,
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

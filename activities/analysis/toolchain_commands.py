"""Node, Go, Rust, Maven, Gradle and Make projects: their build and test commands, why,
and what setup prepares."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from activities.analysis.detection import (
    MAKE_TARGET,
    NPM_NO_TEST,
    DetectedCommands,
    existing_files,
    read_manifest,
)
from activities.analysis.report import BuildSystem
from domain.setup_plan import (
    GoEnvironment,
    JvmEnvironment,
    NodeEnvironment,
    RustEnvironment,
)


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


def detect_node(root: Path) -> DetectedCommands | None:
    text = read_manifest(root, "package.json")
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
    if isinstance(test_script, str) and NPM_NO_TEST not in test_script:
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


def detect_go(root: Path) -> DetectedCommands | None:
    text = read_manifest(root, "go.mod")
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


def detect_cargo(root: Path) -> DetectedCommands | None:
    if not (root / "Cargo.toml").is_file():
        return None
    lock = "Cargo.lock" if (root / "Cargo.lock").is_file() else None
    toolchain = next(iter(existing_files(root, ["rust-toolchain.toml", "rust-toolchain"])), None)
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


def detect_maven(root: Path) -> DetectedCommands | None:
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


def detect_gradle(root: Path) -> DetectedCommands | None:
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
        dependency_files=existing_files(
            root, [manifest, "settings.gradle", "settings.gradle.kts", "gradle.properties"]
        ),
    )


def detect_make(root: Path) -> DetectedCommands | None:
    name = next((n for n in ("Makefile", "makefile", "GNUmakefile") if (root / n).is_file()), None)
    if name is None:
        return None
    targets = set(MAKE_TARGET.findall(read_manifest(root, name) or ""))
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

"""How to get a test report out of a test command, per runner, without touching the repository.

`plan_capture` looks at the command (and, for `npm test` and friends, the script it runs from
package.json) and decides what to ask of the runner:

| runner | how the report is captured |
|---|---|
| pytest | `--junitxml=<reports>/pytest-junit.xml` appended (PYTEST_ADDOPTS when indirect) |
| unittest | `python -m unittest ARGS` runs through builder's collector, which writes JUnit |
| cargo test | libtest's `test result:` lines read from the output as it streams |
| go test | `-json` added; the test2json event stream read from the output |
| node --test | node's junit reporter via NODE_OPTIONS, beside the usual spec output |
| jest | `--reporters=default --reporters=jest-junit` when jest-junit is installed |
| vitest | its built-in junit reporter (`--reporter=junit --outputFile.junit=...`) |
| mocha | `--reporter mocha-junit-reporter` (MOCHA_FILE) when that reporter is installed |

The line readers for libtest and test2json are always attached, so an indirect command
(`make test`, a tox env, a script) that runs cargo or `go test -json` still yields a report.
`reports` is the reports directory as the command sees it; `collector` the unittest
collector's path as the command sees it (both the host paths while the sandbox shows the
host's filesystem read-only).
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from activities.sandbox.reports.gotest import GoTestEvents
from activities.sandbox.reports.junit import TestReport
from activities.sandbox.reports.libtest import LibtestOutput

_SHELL_SYNTAX = re.compile(r"[|&;<>()$`\n]")
_UNITTEST = re.compile(r"(?<!\S)-m\s+unittest(?!\S)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPERS: tuple[tuple[str, ...], ...] = (
    ("uv", "run"),
    ("poetry", "run"),
    ("pdm", "run"),
    ("pipenv", "run"),
    ("hatch", "run"),
    ("npx",),
    ("pnpm", "exec"),
    ("yarn", "exec"),
)
_PACKAGE_MANAGERS = ("npm", "pnpm", "yarn")
_MAX_PACKAGE_JSON = 1_000_000


def collectors_dir() -> Path:
    """Host path of the folder holding builder's own result collectors (read-only data files
    the sandbox must show to the command, e.g. `unittest_junit.py`)."""
    return Path(__file__).parent / "collectors"


def unittest_collector_path() -> Path:
    """Host path of the unittest collector (`python <it> REPORT_FILE [unittest args]`)."""
    return collectors_dir() / "unittest_junit.py"


class LineReader(Protocol):
    """Reads a runner's results from its output, one line at a time."""

    def feed(self, line: str) -> None: ...

    def report(self) -> TestReport | None: ...


@dataclass
class TestCapture:
    """The command to run, the environment to add, and the readers to feed its output."""

    __test__ = False
    runner: str
    command: str | Sequence[str]
    env: dict[str, str]
    reason: str
    readers: list[LineReader] = field(default_factory=list)

    def feed(self, line: str) -> None:
        for reader in self.readers:
            reader.feed(line)

    def line_reports(self) -> list[TestReport]:
        """Reports the output readers found (none when the run printed no results)."""
        return [r for r in (reader.report() for reader in self.readers) if r is not None]


def _tokens(command: str | Sequence[str]) -> list[str] | None:
    """The argv of a simple command, or None when a shell would interpret it."""
    if not isinstance(command, str):
        return list(command)
    if _SHELL_SYNTAX.search(command):
        return None
    try:
        return shlex.split(command)
    except ValueError:
        return None


def _split_program(tokens: list[str]) -> tuple[list[str], list[str]]:
    """(prefix, rest): leading VAR=value assignments and wrappers like `uv run` or `npx`."""
    i = 0
    while i < len(tokens) and _ASSIGNMENT.match(tokens[i]):
        i += 1
    for wrapper in _WRAPPERS:
        if tuple(tokens[i : i + len(wrapper)]) == wrapper:
            i += len(wrapper)
            break
    return tokens[:i], tokens[i:]


def _is_python(program: str) -> bool:
    return re.fullmatch(r"python(\d+(\.\d+)?)?", Path(program).name) is not None


def _append(command: str | Sequence[str], extra: Sequence[str]) -> str | list[str]:
    """`command` with arguments added at the end; a shell line keeps its own text (globs
    and quoting stay the shell's business)."""
    if isinstance(command, str):
        return " ".join([command, *(shlex.quote(a) for a in extra)])
    return [*command, *extra]


@functools.cache
def _node_has_junit(node: str) -> bool:
    """Whether this node's test runner has the built-in junit reporter (added in 2023)."""
    try:
        done = subprocess.run(
            [node, "-e", "process.exit(require('node:test/reporters').junit ? 0 : 1)"],
            capture_output=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def node_supports_junit() -> bool:
    node = shutil.which("node")
    return node is not None and _node_has_junit(node)


def _package_script(worktree: Path, name: str) -> str | None:
    path = worktree / "package.json"
    try:
        if not path.is_file() or path.stat().st_size > _MAX_PACKAGE_JSON:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    script = scripts.get(name) if isinstance(scripts, dict) else None
    return script if isinstance(script, str) else None


_NESTED_SCRIPT = re.compile(r"\b(?:npm|pnpm|yarn)\s+(?:run(?:-script)?\s+)?([\w:.@/-]+)")


def _with_nested_scripts(text: str, worktree: Path, depth: int = 3) -> str:
    """`text` followed by the text of the package.json scripts it runs (a few levels)."""
    seen: set[str] = set()
    out = [text]
    frontier = [text]
    for _ in range(depth):
        found = []
        for part in frontier:
            for name in _NESTED_SCRIPT.findall(part):
                nested = _package_script(worktree, name) if name not in seen else None
                seen.add(name)
                if nested:
                    found.append(nested)
        out += found
        frontier = found
    return "\n".join(out)


def _script_of(rest: list[str], worktree: Path) -> tuple[str, str] | None:
    """(script name, script text) when `rest` runs a package.json script."""
    if not rest or Path(rest[0]).name not in _PACKAGE_MANAGERS:
        return None
    args = [a for a in rest[1:] if not a.startswith("-")]
    if args[:1] in (["test"], ["t"]):
        name = "test"
    elif args[:1] in (["run"], ["run-script"]) and len(args) > 1:
        name = args[1]
    elif Path(rest[0]).name == "yarn" and args:
        name = args[0]
    else:
        return None
    script = _package_script(worktree, name)
    return (name, script) if script is not None else None


def _installed(worktree: Path, package: str) -> bool:
    return (worktree / "node_modules" / package / "package.json").is_file()


def _node_options(env: dict[str, str], junit: Path) -> dict[str, str]:
    options = (
        "--test-reporter=spec --test-reporter-destination=stdout "
        f"--test-reporter=junit --test-reporter-destination={junit}"
    )
    current = env.get("NODE_OPTIONS", "").strip()
    return {"NODE_OPTIONS": f"{current} {options}".strip()}


def _base_env(reports: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    request = dict(env or {})
    request.setdefault("JEST_JUNIT_OUTPUT_DIR", str(reports))
    request.setdefault("JUNIT_OUTPUT", str(reports / "junit.xml"))
    request.setdefault("MOCHA_FILE", str(reports / "mocha-junit.xml"))
    request.setdefault("GOTESTSUM_JUNITFILE", str(reports / "gotestsum-junit.xml"))
    return request


def plan_capture(
    command: str | Sequence[str],
    reports: Path,
    env: Mapping[str, str] | None,
    *,
    worktree: Path,
    collector: Path | None = None,
) -> TestCapture:
    """What to run, with which environment, to get a report of `command`'s tests."""
    request = _base_env(reports, env)
    readers: list[LineReader] = [LibtestOutput(), GoTestEvents()]
    tokens = _tokens(command)

    def capture(runner: str, argv: str | Sequence[str], reason: str) -> TestCapture:
        return TestCapture(runner, argv, request, reason, readers)

    if tokens is None or not tokens:
        request["PYTEST_ADDOPTS"] = (
            f"{request.get('PYTEST_ADDOPTS', '')} --junitxml={reports / 'pytest-junit.xml'}"
        ).strip()
        return capture("unknown", command, "shell command: JUnit asked for through the env")
    prefix, rest = _split_program(tokens)
    program = Path(rest[0]).name if rest else ""
    module = rest[2] if len(rest) > 2 and _is_python(program) and rest[1] == "-m" else None

    if program in ("pytest", "py.test") or module == "pytest":
        argv = _append(command, [f"--junitxml={reports / 'pytest-junit.xml'}"])
        return capture("pytest", argv, "pytest writes JUnit (--junitxml)")
    if module == "unittest":
        runs = [str(collector or unittest_collector_path()), str(reports / "unittest-junit.xml")]
        via: str | list[str] = (
            _UNITTEST.sub(lambda _: shlex.join(runs), command, count=1)
            if isinstance(command, str)
            else [*prefix, rest[0], *runs, *rest[3:]]
        )
        return capture("unittest", via, "unittest runs through builder's JUnit collector")
    if program == "cargo" and rest[1:2] == ["test"]:
        return capture("cargo", command, "libtest's result lines are read from the output")
    if program == "go" and rest[1:2] == ["test"]:
        if "-json" in rest or "-args" in rest:
            return capture("go", command, "go test events are read from the output")
        # go test takes its flags after the package list too
        return capture("go", _append(command, ["-json"]), "go test -json events are read")
    if program.startswith("node") and "--test" in rest:
        return _node_test(command, rest, request, reports, readers)
    if program in ("jest", "vitest", "mocha"):
        extra = _js_runner_args(program, reports, worktree)
        if extra:
            return capture(program, _append(command, extra), f"{program} writes JUnit")
        return capture(program, command, f"{program}: no JUnit reporter installed")
    script = _script_of(rest, worktree)
    if script is not None:
        return _package_script_capture(command, tokens, rest, script, request, reports, worktree,
                                       readers)  # fmt: skip
    request["PYTEST_ADDOPTS"] = (
        f"{request.get('PYTEST_ADDOPTS', '')} --junitxml={reports / 'pytest-junit.xml'}"
    ).strip()
    return capture("unknown", command, f"{program}: JUnit asked for through the environment")


def _node_test(
    command: str | Sequence[str],
    argv: list[str],
    request: dict[str, str],
    reports: Path,
    readers: list[LineReader],
) -> TestCapture:
    if any(a.startswith("--test-reporter") for a in argv):
        return TestCapture("node", command, request, "node --test with its own reporters", readers)
    if not node_supports_junit():
        return TestCapture("node", command, request, "this node has no junit reporter", readers)
    request.update(_node_options(request, reports / "node-junit.xml"))
    return TestCapture("node", command, request, "node's junit reporter (NODE_OPTIONS)", readers)


def _js_runner_args(program: str, reports: Path, worktree: Path) -> list[str]:
    if program == "jest" and _installed(worktree, "jest-junit"):
        return ["--reporters=default", "--reporters=jest-junit"]
    if program == "vitest":
        return [
            "--reporter=default",
            "--reporter=junit",
            f"--outputFile.junit={reports / 'vitest-junit.xml'}",
        ]
    if program == "mocha" and _installed(worktree, "mocha-junit-reporter"):
        return ["--reporter", "mocha-junit-reporter"]
    return []


def _package_script_capture(
    command: str | Sequence[str],
    tokens: list[str],
    rest: list[str],
    script: tuple[str, str],
    request: dict[str, str],
    reports: Path,
    worktree: Path,
    readers: list[LineReader],
) -> TestCapture:
    name, text = script
    manager = Path(rest[0]).name
    inner = _tokens(text)
    if inner is None:
        # a compound script: only the environment can reach the runner inside it, also in
        # the scripts it runs (`npm run test:unit && npm run test:types`)
        text = _with_nested_scripts(text, worktree)
        if "node --test" in text and "--test-reporter" not in text and node_supports_junit():
            request.update(_node_options(request, reports / "node-junit.xml"))
            reason = f"{manager} {name} runs node --test: junit reporter through NODE_OPTIONS"
            return TestCapture("node", command, request, reason, readers)
        return TestCapture(manager, command, request, f"{manager} {name}: {text}", readers)
    _, inner_rest = _split_program(inner)
    program = Path(inner_rest[0]).name if inner_rest else ""
    if program.startswith("node") and "--test" in inner_rest:
        capture = _node_test(command, inner_rest, request, reports, readers)
        capture.reason = f"{manager} {name} runs node --test: {capture.reason}"
        return capture
    if program in ("jest", "vitest", "mocha") and manager == "npm":
        extra = _js_runner_args(program, reports, worktree)
        if extra:
            # npm passes what follows `--` to the script's command
            argv = _append(command, [*([] if "--" in tokens else ["--"]), *extra])
            reason = f"npm {name} runs {program}: its JUnit reporter is added"
            return TestCapture(program, argv, request, reason, readers)
    return TestCapture(manager, command, request, f"{manager} {name} runs {program}", readers)

"""Real projects' own test runners, run directly and through builder's report capture: the
report must count exactly what the runner itself says it ran."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from activities.analysis.commands import detect_build_systems
from activities.analysis.repo_config import analyze_configured_repository
from activities.sandbox import SandboxConfig, SandboxRunner, run_phase
from activities.sandbox.egress import EgressPolicy
from tests.fixtures.real_projects import run_captured, run_plain
from tests.fixtures.registry import FetchedSource
from tests.fixtures.services import require_executable


def _count(pattern: str, text: str, default: int | None = None) -> int:
    match = re.search(pattern, text, re.M)
    if match is None:
        assert default is not None, f"no match for {pattern!r} in:\n{text[-2000:]}"
        return default
    return int(match.group(1))


def test_unittest_project_reports_every_test_unittest_runs_including_load_tests_doctests(
    more_itertools_source: FetchedSource, tmp_path: Path
) -> None:
    tree = more_itertools_source.copy_tree(tmp_path / "more-itertools")
    plain = run_plain([sys.executable, "-m", "unittest"], tree)
    ran = _count(r"^Ran (\d+) tests? in", plain)
    skipped = _count(r"skipped=(\d+)", plain, default=0)

    captured = run_captured(f"{sys.executable} -m unittest", tree)

    assert captured.exit_code == 0
    assert captured.report is not None
    assert (captured.report.total, captured.report.skipped) == (ran, skipped)
    assert captured.report.failed == captured.report.errors == 0
    assert ran > 800  # its load_tests hooks add the doctests pytest would skip
    assert f"Ran {ran} tests" in captured.output  # unittest's own output is untouched


def test_unittest_project_detection_follows_its_tox_env_not_its_tests_folder(
    more_itertools_source: FetchedSource,
) -> None:
    detection = detect_build_systems(more_itertools_source.root, ["Python"])
    python = detection.found[0]
    assert python.test == "python -m unittest -v"
    assert "tox.ini" in (python.reasons.get("test") or "")


def test_unittest_collector_works_inside_the_sandbox(
    more_itertools_source: FetchedSource, tmp_path: Path
) -> None:
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    tree = more_itertools_source.copy_tree(tmp_path / "more-itertools")
    plain = run_plain([sys.executable, "-m", "unittest"], tree)
    result = run_phase(
        "test", "python -m unittest", tree, required=True, timeout_s=300,
        runner=SandboxRunner(SandboxConfig()),
    )  # fmt: skip
    assert result.sandboxed and result.test_report is not None
    assert result.test_report.total == _count(r"^Ran (\d+) tests? in", plain)


def test_pytest_src_layout_project_counts_match_pytest_s_summary(
    packaging_source: FetchedSource, packaging_test_python: Path, tmp_path: Path
) -> None:
    tree = packaging_source.copy_tree(tmp_path / "packaging")
    selection = ["tests/test_tags.py", "tests/test_markers.py"]
    env = {"PYTHONPATH": str(tree / "src")}
    argv = [str(packaging_test_python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection]
    plain = run_plain(argv, tree, env)
    passed = _count(r"(\d+) passed", plain)
    skipped = _count(r"(\d+) skipped", plain, default=0)

    captured = run_captured(" ".join(argv), tree, env)

    assert captured.exit_code == 0 and captured.report is not None
    assert (captured.report.passed, captured.report.skipped) == (passed, skipped)
    assert captured.report.total == passed + skipped > 1000
    assert not list(tree.rglob("*junit*.xml")), "the report must not land in the repository"


def test_node_test_project_counts_match_node_s_own_summary(
    fastify_error_source: FetchedSource, tmp_path: Path
) -> None:
    require_executable("node", "install Node.js 20+ (apt-get install nodejs)")
    tree = fastify_error_source.copy_tree(tmp_path / "fastify-error")
    plain = run_plain(["node", "--test"], tree)  # TAP when stdout is not a terminal
    tests, passed = _count(r"^# tests (\d+)", plain), _count(r"^# pass (\d+)", plain)

    captured = run_captured("node --test", tree)

    assert captured.exit_code == 0 and captured.report is not None
    assert (captured.report.total, captured.report.passed) == (tests, passed)
    assert tests > 30
    assert "✔" in captured.output or "ok " in captured.output  # the usual output still shows


def test_cargo_crate_counts_match_the_tests_cargo_lists_including_doc_tests(
    itoa_source: FetchedSource, tmp_path: Path
) -> None:
    require_executable("cargo", "install Rust (rustup or apt-get install cargo)")
    tree = itoa_source.copy_tree(tmp_path / "itoa")
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target"), "RUST_BACKTRACE": "0"}
    listed = run_plain(["cargo", "test", "--offline", "--quiet", "--", "--list"], tree, env)
    names = [line for line in listed.splitlines() if line.endswith(": test")]
    doc_tests = [n for n in names if n.startswith("src/lib.rs - ")]

    captured = run_captured("cargo test --offline --quiet --no-fail-fast", tree, env)

    assert captured.exit_code == 0 and captured.report is not None
    assert captured.report.total == captured.report.passed == len(names)
    assert len(names) > 5 and doc_tests, "unit, integration and doc-tests all count"


def test_node_project_through_setup_and_its_own_npm_test_script_counts_node_s_tests(
    fastify_error_source: FetchedSource, tmp_path: Path
) -> None:
    """Its `npm test` runs `npm run test:unit` (c8 around node --test) and a type test: the
    report must still count what node --test counts, after setup installed the dev
    dependencies from the npm registry through the egress proxy."""
    require_executable("node", "install Node.js 20+ (apt-get install nodejs)")
    require_executable("bwrap", "install bubblewrap (apt-get install bubblewrap)")
    tree = fastify_error_source.copy_tree(tmp_path / "fastify-error")
    plain = run_plain(["node", "--test"], tree)
    tests, passed = _count(r"^# tests (\d+)", plain), _count(r"^# pass (\d+)", plain)
    report = analyze_configured_repository(tree, None)
    config = report.configuration
    assert config is not None and config.setup.allow_network
    runner = SandboxRunner(SandboxConfig())

    setup = run_phase(
        "setup", report.setup_command, tree, required=True, timeout_s=600, runner=runner,
        egress=EgressPolicy(),
    )  # fmt: skip
    result = run_phase(
        "test", report.test_command, tree, required=True, timeout_s=600, runner=runner
    )

    assert report.test_command == "npm run test --silent"
    assert "[egress] allowed registry.npmjs.org:443" in setup.log
    assert result.test_report is not None
    assert (result.test_report.total, result.test_report.passed) == (tests, passed)

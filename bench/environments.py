"""Benchmark of the cached environment: a real project's setup, build and test, cold (no
environment yet: setup creates the virtual environment and installs through the egress
proxy) against warm (same tenant and dependency state: setup is skipped).

Takes real projects from PyPI (the test fixtures' pinned sdists, cached between runs), runs
them the way the verify activity does (analysis, then `prepare_environment` and the build
and test phases in the bubblewrap sandbox), and prints a table with the ratios; asserts
nothing.

    python bench/environments.py [--rounds 2] [--project more-itertools|packaging|all]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.analysis.repo_config import analyze_configured_repository
from activities.phases.environment import EnvironmentSettings, prepare_environment
from activities.sandbox import SandboxConfig, SandboxRunner, run_phase
from activities.sandbox.environments import EnvironmentStore, default_interpreter
from tests.fixtures.real_projects import MORE_ITERTOOLS, PACKAGING
from tests.fixtures.registry import pypi_sdist

PROJECTS = {"more-itertools": MORE_ITERTOOLS, "packaging": PACKAGING}


def _one(runner: SandboxRunner, settings: EnvironmentSettings, tree: Path,
         tenant: str) -> tuple[float, float, bool]:  # fmt: skip
    """(setup seconds, setup + build + test seconds, whether setup was skipped)."""
    report = analyze_configured_repository(tree, None)
    configuration = report.configuration
    assert configuration is not None
    started = time.perf_counter()
    ready = prepare_environment(
        settings, runner, tenant=tenant, repository="bench", worktree=tree, plan=report.setup_plan,
        configuration=configuration, setup_timeout_s=1800, run_plain_setup=True,
    )  # fmt: skip
    setup_s = time.perf_counter() - started
    try:
        for kind in ("build", "test"):
            phase = configuration.phase(kind)
            run_phase(
                kind, phase.command, tree, required=True, timeout_s=1800, runner=runner,
                allow_network=phase.allow_network, env=ready.env, environment=ready.mount,
            )  # fmt: skip
    finally:
        ready.release()
    return setup_s, time.perf_counter() - started, ready.cache_hit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--project", choices=[*PROJECTS, "all"], default="all")
    args = parser.parse_args()
    runner = SandboxRunner(SandboxConfig())
    names = list(PROJECTS) if args.project == "all" else [args.project]
    rows: list[tuple[str, float, float, float, float]] = []
    for name in names:
        source = pypi_sdist(*PROJECTS[name])
        cold: list[tuple[float, float]] = []
        warm: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            scratch = Path(tempfile.mkdtemp(prefix="bench-env-"))
            try:
                settings = EnvironmentSettings(
                    EnvironmentStore(scratch / "environments"), default_interpreter()
                )
                tenant = str(uuid.uuid4())
                for label, into in (("cold", cold), ("warm", warm)):
                    # a fresh worktree each time, as a new execution gets
                    tree = source.copy_tree(scratch / f"tree-{label}")
                    setup_s, total_s, hit = _one(runner, settings, tree, tenant)
                    assert hit == (label == "warm"), f"{label} run: cache hit {hit}"
                    into.append((setup_s, total_s))
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        rows.append((
            name,
            statistics.median(s for s, _ in cold), statistics.median(t for _, t in cold),
            statistics.median(s for s, _ in warm), statistics.median(t for _, t in warm),
        ))  # fmt: skip
    print(f"rounds: {args.rounds} (medians, seconds)")
    print(f"{'project':16} {'cold setup':>11} {'cold total':>11} {'warm setup':>11} "
          f"{'warm total':>11} {'setup ratio':>12} {'total ratio':>12}")  # fmt: skip
    for name, cs, ct, ws, wt in rows:
        print(f"{name:16} {cs:11.2f} {ct:11.2f} {ws:11.3f} {wt:11.2f} "
              f"{cs / max(ws, 1e-6):11.0f}x {ct / max(wt, 1e-6):11.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()

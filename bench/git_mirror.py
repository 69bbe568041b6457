"""Benchmark of the git workspace engine against the git CLI, in one run.

Builds a bare repository of ~3,000 files, then times:
- cold: the first workspace through the mirror cache (mirror clone + workspace checkout);
- warm mirror: a new workspace when the mirror exists (fetch + checkout);
- warm workspace: a new execution reusing a released workspace (fetch + reset);
- `git clone` of the same repository;
- a full execution (workspace, edit, commit, push) against a shell script doing the same
  with the git CLI (clone, edit, commit, push).
Prints a table and the ratios; asserts nothing.

    python bench/git_mirror.py [--files 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.git import GitConfig, GitEngine
from domain.edits import WriteEdit
from tests.fixtures.git_servers import make_bare_repository

GIT_ENV = "-c user.name=bench -c user.email=bench@example.com"


def _engine(root: Path) -> GitEngine:
    return GitEngine(
        GitConfig(
            workspace_root=root / "workspaces",
            mirror_root=root / "mirrors",
            allow_local_remotes=True,
            denied_hosts=(),
        )
    )


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _engine_execution(engine: GitEngine, remote: Path, key: str, n: int) -> None:
    branch = f"builder/bench-{key}"
    ws = engine.open_workspace(str(remote), None, key, "main", branch, tenant="bench")
    engine.apply_edits(ws.path, [WriteEdit(path="src/pkg1/file_1.txt", content=f"edit {n}\n")])
    engine.commit(ws.path, f"bench {n}", 1_700_000_000 + n)
    engine.push_branch(ws.path, str(remote), None, branch)


def _cli_execution(remote: Path, target: Path, n: int) -> None:
    script = f"""set -e
git clone -q {remote} {target}
cd {target}
git checkout -q -b cli/bench-{n}
echo "edit {n}" > src/pkg1/file_1.txt
git {GIT_ENV} commit -q -am "bench {n}"
git push -q origin cli/bench-{n}
"""
    subprocess.run(["bash", "-c", script], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        rows.setdefault(name, []).append(seconds)

    with tempfile.TemporaryDirectory(prefix="bench-git-") as scratch:
        root = Path(scratch)
        remote = make_bare_repository(root / "remote.git", files=args.files)
        for r in range(args.rounds):
            work = root / f"round-{r}"
            engine = _engine(work)
            record(
                "engine: first workspace (cold mirror)",
                _timed(
                    lambda e=engine: e.open_workspace(
                        str(remote), None, "a", "main", "builder/a-1", tenant="bench"
                    )
                ),
            )
            record(
                "engine: new workspace (warm mirror)",
                _timed(
                    lambda e=engine: e.open_workspace(
                        str(remote), None, "b", "main", "builder/b-1", tenant="bench"
                    )
                ),
            )
            engine.release_workspace("b", keep_warm=True)
            record(
                "engine: reused workspace (warm)",
                _timed(
                    lambda e=engine: e.open_workspace(
                        str(remote), None, "c", "main", "builder/c-1", tenant="bench"
                    )
                ),
            )
            record(
                "git clone",
                _timed(
                    lambda w=work: subprocess.run(
                        ["git", "clone", "-q", str(remote), str(w / "cli-clone")], check=True
                    )
                ),
            )

            full = _engine(work / "full")
            record(
                "full execution: engine cold",
                _timed(lambda e=full, n=r: _engine_execution(e, remote, f"x{n}", n)),
            )
            full.release_workspace(f"x{r}", keep_warm=True)
            record(
                "full execution: engine warm",
                _timed(lambda e=full, n=r: _engine_execution(e, remote, f"y{n}", n + 100)),
            )
            record(
                "full execution: git CLI script",
                _timed(lambda w=work, n=r: _cli_execution(remote, w / "cli-full", n)),
            )
            shutil.rmtree(work, ignore_errors=True)

    median = {name: statistics.median(values) for name, values in rows.items()}
    print(f"\nrepository: {args.files} files, {args.rounds} rounds (median seconds)\n")
    print(f"{'operation':<42}{'median s':>10}{'min s':>10}")
    for name, values in rows.items():
        print(f"{name:<42}{median[name]:>10.3f}{min(values):>10.3f}")
    cold = median["engine: first workspace (cold mirror)"]
    cli = median["full execution: git CLI script"]
    ratios = [
        ("cold / warm-mirror workspace", cold / median["engine: new workspace (warm mirror)"], ""),
        ("cold / reused workspace", cold / median["engine: reused workspace (warm)"], ""),
        ("cold workspace / git clone", cold / median["git clone"], ""),
        ("full execution cold / CLI", median["full execution: engine cold"] / cli, "target <= 1.3"),
        ("full execution warm / CLI", median["full execution: engine warm"] / cli, "target <= 0.8"),
    ]
    print("\nratios")
    for name, value, note in ratios:
        print(f"  {name:<34}{value:>8.2f}  {note}")


if __name__ == "__main__":
    main()

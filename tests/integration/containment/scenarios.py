"""What a worker does with a hostile repository, as plain functions the tests run either in
the test process (worker as root) or as `python -m` under setpriv (worker as a normal user).

Each scenario builds its own world under `base` (owned by the worker's uid): a state dir with
a vault key, mirrors and workspaces below it, and a bare remote. It returns JSON-able facts;
the tests check the host themselves.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from activities.codegen.workspace import FilesystemWorkspace
from activities.git import GitConfig, GitEngine
from activities.git.worktree_state import reset_worktree
from activities.sandbox import SandboxConfig, SandboxRunner, run_phase
from activities.sandbox.seccomp import architecture_of
from domain.edits import WriteEdit
from domain.errors import DomainError
from tests.fixtures.git_servers import _git, commit_to_bare, make_bare_repository

BRANCH = "builder/hostile-1234abcd"
VAULT_SECRET = "planted-vault-key-material"
PROBE = Path(__file__).with_name("probe.py")


class World:
    """A worker's state dir, git engine and sandbox runner, and a remote to work on."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.state = base / "state"
        self.state.mkdir(parents=True, exist_ok=True)
        self.vault_key = self.state / "vault-keys.json"
        if not self.vault_key.exists():
            self.vault_key.write_text(json.dumps({"k1": VAULT_SECRET}) + "\n")
            self.vault_key.chmod(0o600)
        self.engine = GitEngine(
            GitConfig(
                workspace_root=self.state / "workspaces",
                mirror_root=self.state / "mirrors",
                allow_local_remotes=True,
                denied_hosts=(),
            )
        )
        self.runner = SandboxRunner(SandboxConfig(extra_denied=(str(self.state),)))
        self.remote = base / "remote.git"
        if not self.remote.exists():
            make_bare_repository(self.remote, files=6)
            commit_to_bare(self.remote, "main", ".gitignore", "node_modules/\n*.log\n", "ignore")

    def open(self, key: str, tenant: str) -> Path:
        ws = self.engine.open_workspace(str(self.remote), None, key, "main", BRANCH, tenant=tenant)
        return ws.path

    def base_commit(self) -> str:
        return _git("rev-parse", "main", cwd=self.remote).strip()

    def run(self, command: str | list[str], worktree: Path) -> dict[str, Any]:
        result = self.runner.run(command, worktree, timeout_s=120)
        return {"exit_code": result.exit_code, "output": result.output}


def _listing(root: Path) -> list[str]:
    out = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        out += [os.path.relpath(os.path.join(directory, f), root) for f in files]
    return sorted(out)


def _bounded(seconds: float, action: Callable[[], Any]) -> Any:
    """`action()`, or the string 'blocked' when it does not return in time."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(action()), daemon=True)
    thread.start()
    thread.join(seconds)
    return box[0] if box else "blocked"


def _stdlib_python() -> str:
    """An interpreter for the probe (stdlib only) that a non-root worker can run too: the
    system's when there is one, since a version manager's under /root is out of its reach
    on hosts where /root is private."""
    return shutil.which("python3", path="/usr/bin:/bin") or sys.executable


def probe(base: str, **facts: Any) -> dict[str, Any]:
    """Run probe.py as a repository's test command in a real workspace."""
    world = World(Path(base))
    worktree = world.open("exec-probe", "tenant-a")
    shutil.copy(PROBE, worktree / ".probe.py")
    # an object file shared (hardlinked) with the mirror
    pack = next(
        p
        for p in sorted(glob.glob(str(worktree / ".git" / "objects" / "*" / "*")))
        if os.stat(p).st_nlink > 1
    )
    args = {
        **facts,
        "syscalls": architecture_of().syscalls,
        "state_dir": str(world.state),
        "vault_key": str(world.vault_key),
        "mirror": str(world.engine.workspaces.mirrors.path_for(str(world.remote))),
        "worktree": str(worktree),
        "worker_home": os.path.expanduser("~"),
        "worker_pid": os.getpid(),
        "branch": BRANCH,
        "pack": "/workspace/" + os.path.relpath(pack, worktree),
    }
    outcome = world.run([_stdlib_python(), ".probe.py", json.dumps(args)], worktree)
    return {**outcome, "worktree": str(worktree), "pack": pack, "vault_key": str(world.vault_key)}


PLANT = (
    "echo 'print(\"backdoor\")' > planted.py && mkdir -p node_modules/evil && "
    "echo 'steal()' > node_modules/evil/index.js && echo 'x' > build.log && "
    "echo 'alias git=evil' > ~/.bashrc && mkdir -p ~/.cache && echo poisoned > ~/.cache/pip && "
    "echo planted > /tmp/planted && "
    "(git config core.worktree /tmp; echo exit=$?) && "
    "(echo '#!/bin/sh' > .git/hooks/post-checkout; echo exit=$?)"
)
LOOK = "ls -a ~ /tmp; cat planted.py node_modules/evil/index.js 2>&1; echo looked"


def plant_across_tenants(base: str) -> dict[str, Any]:
    """Tenant A's run plants files; then tenant B, then A again, open the same repository."""
    world = World(Path(base))
    first = world.open("exec-a", "tenant-a")
    readme_inode = (first / "README.md").stat().st_ino
    planted = world.run(PLANT, first)
    world.engine.release_workspace("exec-a", keep_warm=True)

    other = world.open("exec-b", "tenant-b")
    seen_by_b = world.run(LOOK, other)
    facts_b = {
        "files": _listing(other),
        "reused": (other / "README.md").stat().st_ino == readme_inode,
        "config": (other / ".git" / "config").read_text(),
    }
    world.engine.release_workspace("exec-b", keep_warm=True)

    again = world.open("exec-c", "tenant-a")
    facts_a = {
        "files": _listing(again),
        "reused": (again / "README.md").stat().st_ino == readme_inode,
        "config": (again / ".git" / "config").read_text(),
        "hooks": os.path.exists(again / ".git" / "hooks"),
    }
    return {"planted": planted, "seen_by_b": seen_by_b, "b": facts_b, "a_again": facts_a}


def links_out_of_the_worktree(base: str, victim_dir: str, victim_file: str) -> dict[str, Any]:
    """A test run leaves links to host paths and FIFOs; builder then reads, edits and resets."""
    world = World(Path(base))
    worktree = world.open("exec-links", "tenant-a")
    command = (
        f"ln -s {victim_file} leak.txt && rm -rf src/pkg0 && ln -s {victim_dir} src/pkg0 && "
        f"mkfifo pipe.txt && mkfifo TEST-blocking.xml && mkfifo coverage.xml && "
        f"ln -s {victim_file} TEST-leak.xml && mkdir -p test-results && "
        f"ln -s {victim_file} test-results/junit.xml && echo links made"
    )
    phase = _bounded(
        30,
        lambda: run_phase(
            "test", command, worktree, required=False, timeout_s=60, runner=world.runner
        ),
    )
    facts: dict[str, Any] = {
        "phase": phase if isinstance(phase, str) else {"log": phase.log, "report": None},
    }
    if not isinstance(phase, str):
        facts["phase"]["report"] = repr(phase.test_report)
    view = FilesystemWorkspace(worktree)
    facts["read_pipe"] = _bounded(5, lambda: view.read_text("pipe.txt"))
    facts["read_leak"] = _refusal(lambda: view.read_text("leak.txt"))
    facts["read_through_dir"] = _refusal(lambda: view.read_text("src/pkg0/victim.txt"))
    facts["listed"] = view.list_files()
    facts["write_through_dir"] = _refusal(
        lambda: world.engine.apply_edits(worktree, [WriteEdit(path="src/pkg0/x.txt", content="x")])
    )
    facts["write_leak"] = _refusal(
        lambda: world.engine.apply_edits(worktree, [WriteEdit(path="leak.txt", content="x")])
    )
    reset_worktree(worktree, world.base_commit(), BRANCH)
    facts["after_reset"] = {
        "pkg0_is_dir": (worktree / "src" / "pkg0").is_dir()
        and not (worktree / "src" / "pkg0").is_symlink(),
        "files": _listing(worktree),
    }
    return facts


def _refusal(action: Callable[[], Any]) -> str:
    try:
        value = action()
    except DomainError as exc:
        return f"{type(exc).__name__}: {exc.message}"
    return f"allowed: {value!r}"


MOVE_BRANCH = (
    f"(git update-ref refs/heads/{BRANCH} HEAD~1; echo update-ref=$?); "
    "(git -c user.name=x -c user.email=x@x commit -q --allow-empty -m untested; "
    "echo commit=$?); (echo 0000000000000000000000000000000000000000 > .git/HEAD; "
    "echo head=$?); (git checkout -q --detach HEAD~1; echo checkout=$?); exit 0"
)


def move_branch_then_push(base: str) -> dict[str, Any]:
    """The tests of a step try to move the branch; builder then pushes the recorded commit."""
    world = World(Path(base))
    worktree = world.open("exec-push", "tenant-a")
    touched = world.engine.apply_edits(worktree, [WriteEdit(path="feature.txt", content="ok\n")])
    tested = world.engine.commit(worktree, "step 1", 1_700_000_000, paths=touched).sha
    hostile = world.run(MOVE_BRANCH, worktree)
    local_head = _git("rev-parse", "HEAD", cwd=worktree).strip()
    local_branch = _git("rev-parse", f"refs/heads/{BRANCH}", cwd=worktree).strip()
    pushed = world.engine.push_commit(
        worktree, str(world.remote), None, BRANCH, tested, base_commit=world.base_commit()
    )
    remote_sha = _git("rev-parse", f"refs/heads/{BRANCH}", cwd=world.remote).strip()
    return {
        "hostile": hostile,
        "tested": tested,
        "local_head": local_head,
        "local_branch": local_branch,
        "pushed": pushed.remote_sha,
        "remote": remote_sha,
    }


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "probe": probe,
    "plant_across_tenants": plant_across_tenants,
    "links_out_of_the_worktree": links_out_of_the_worktree,
    "move_branch_then_push": move_branch_then_push,
}


if __name__ == "__main__":
    started = time.monotonic()
    facts = SCENARIOS[sys.argv[1]](**json.loads(sys.argv[2]))
    print(json.dumps({**facts, "seconds": round(time.monotonic() - started, 2)}))

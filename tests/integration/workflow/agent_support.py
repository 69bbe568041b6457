"""A realistic agent trajectory on more-itertools (a real project from PyPI), scripted as
the model's tool calls: explore, read, edit with a bug, write a test, run it, see it fail,
fix, run again, finish. `declared_trajectory` is the same work declared as two tasks (add
the function; test it and fix what fails), each ended by `finish`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fixtures.registry import FetchedSource
from tests.integration.codegen.model_server import Reply

MORE = "more_itertools/more.py"
BUGGY = (
    "def clamped(iterable, low, high):\n"
    '    """Each item of *iterable* limited to the range [*low*, *high*]."""\n'
    "    return [min(max(x, low), low) for x in iterable]\n\n\n"
)
TEST = (
    "from unittest import TestCase\n\nfrom more_itertools import clamped\n\n\n"
    "class ClampedTests(TestCase):\n"
    "    def test_clamped(self):\n"
    "        self.assertEqual(clamped([1, 5, 9], 2, 6), [2, 5, 6])\n"
)
RUN_TEST = "python -m unittest tests.test_clamped"


def trajectory() -> list[Reply]:
    return [
        Reply(
            text="Let me look around.", tool_calls=[("list_files", {"glob": "more_itertools/*.py"})]
        ),
        Reply(tool_calls=[("search", {"pattern": "^def chunked", "glob": MORE})]),
        Reply(tool_calls=[("read_file", {"path": MORE, "start_line": 50, "end_line": 60})]),
        Reply(
            text="Adding clamped next to chunked.",
            tool_calls=[
                (
                    "edit_file",
                    {
                        "path": MORE,
                        "old": "    'chunked',\n",
                        "new": "    'chunked',\n    'clamped',\n",
                    },
                ),
                (
                    "edit_file",
                    {
                        "path": MORE,
                        "old": "def chunked(iterable, n, strict=False):\n",
                        "new": BUGGY + "def chunked(iterable, n, strict=False):\n",
                    },
                ),
            ],
        ),
        Reply(tool_calls=[("write_file", {"path": "tests/test_clamped.py", "content": TEST})]),
        Reply(tool_calls=[("run", {"command": RUN_TEST})]),
        Reply(
            text="The upper bound is wrong.",
            tool_calls=[
                (
                    "edit_file",
                    {"path": MORE, "old": "min(max(x, low), low)", "new": "min(max(x, low), high)"},
                )
            ],
        ),
        Reply(tool_calls=[("run", {"command": RUN_TEST})]),
        Reply(tool_calls=[("finish", {"summary": "Added clamped() with a test."})]),
    ]


TASKS = ["Add clamped() to more_itertools", "Test clamped() and fix what the test finds"]


def declared_trajectory() -> list[Reply]:
    """Explore, declare two tasks, then the trajectory's edits (task 1) and its test, run,
    fix, run (task 2), each task ended by `finish`."""
    t = trajectory()
    declare = Reply(text="Two tasks.", tool_calls=[("declare_tasks", {"tasks": TASKS})])
    done = Reply(tool_calls=[("finish", {"summary": "clamped() added and exported."})])
    return [*t[:3], declare, t[3], done, *t[4:]]


def git_remote(source: FetchedSource, tmp: Path) -> Path:
    work, remote = tmp / "work", tmp / "more.git"
    source.copy_tree(work)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *env, "-C", str(work), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(work), "commit", "-qm", "import"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(remote), "main"], check=True)
    return remote


def commits(remote: Path, sha: str) -> list[tuple[str, list[str]]]:
    """The branch's commits after the import, oldest first: (message, changed paths)."""
    log = subprocess.run(
        ["git", "--git-dir", str(remote), "log", "--reverse", "--format=%H", f"main..{sha}"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    out = []
    for c in log:
        shown = subprocess.run(
            ["git", "--git-dir", str(remote), "show", "--name-only", "--format=%s", c],
            check=True, capture_output=True, text=True,
        ).stdout.split("\n")  # fmt: skip
        out.append((shown[0], sorted(p for p in shown[1:] if p.strip())))
    return out


def show(remote: Path, sha: str, path: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "show", f"{sha}:{path}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip

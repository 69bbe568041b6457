"""Builder's reads of what a run left: never out through a symlink, never blocked by a FIFO."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from activities.analysis.commands import detect_build_systems
from activities.codegen.workspace import FilesystemWorkspace
from activities.sandbox.reports.collect import collect_coverage, collect_junit
from activities.sandbox.untrusted_files import read_regular_file, regular_files
from domain.errors import PolicyViolation


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "vault.key"
    path.parent.mkdir()
    path.write_text('{"scripts": {"test": "planted-vault-key-material"}}\n')
    return path


@pytest.fixture
def tree(tmp_path: Path, secret: Path) -> Path:
    root = tmp_path / "worktree"
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "alias.py").symlink_to("src/app.py")
    (root / "leak.txt").symlink_to(secret)
    (root / "hostdir").symlink_to(secret.parent, target_is_directory=True)
    os.mkfifo(root / "blocking.txt")
    return root


def _within(seconds: float, action) -> object:
    """Run `action` in a thread; fail instead of hanging when it blocks."""
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(action()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"{action} blocked for more than {seconds} s"
    return box[0]


def test_reads_stay_inside_the_root_and_never_open_a_fifo(tree: Path) -> None:
    limit = 1 << 20
    assert read_regular_file(tree / "src" / "app.py", tree, limit) == b"print('hi')\n"
    assert read_regular_file(tree / "alias.py", tree, limit) == b"print('hi')\n"  # inside
    assert read_regular_file(tree / "leak.txt", tree, limit) is None
    assert read_regular_file(tree / "hostdir" / "vault.key", tree, limit) is None
    assert read_regular_file(tree / ".git" / "config", tree, limit) is None
    assert _within(2, lambda: read_regular_file(tree / "blocking.txt", tree, limit)) is None
    assert read_regular_file(tree / "src" / "app.py", tree, 3) is None  # over the limit
    listed = [p.relative_to(tree).as_posix() for p in regular_files(tree)]
    assert listed == [".git/config", "src/app.py"]


def test_filesystem_workspace_shows_engines_regular_files_only(tree: Path) -> None:
    view = FilesystemWorkspace(tree)
    assert view.list_files() == ["src/app.py"]
    assert view.read_text("alias.py") == "print('hi')\n"
    assert _within(2, lambda: view.read_text("blocking.txt")) is None
    assert not view.exists("blocking.txt")
    with pytest.raises(PolicyViolation, match="outside the repository"):
        view.read_text("leak.txt")
    with pytest.raises(PolicyViolation, match="outside the repository"):
        view.read_text("hostdir/vault.key")


def test_report_collection_skips_planted_links_and_fifos(tree: Path, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    os.mkfifo(reports / "pytest-junit.xml")
    (reports / "linked-junit.xml").symlink_to(tree / "leak.txt")
    os.mkfifo(tree / "TEST-blocking.xml")
    os.mkfifo(tree / "coverage.xml")
    notes: list[str] = []
    since = time.time() - 60
    report = _within(5, lambda: collect_junit([reports], tree, since, notes))
    coverage = _within(5, lambda: collect_coverage(tree, since, notes))
    assert report is None and coverage is None
    assert not any("planted" in n for n in notes)


def test_analysis_does_not_read_a_manifest_linked_to_a_host_file(tmp_path: Path, secret) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "package.json").symlink_to(secret)
    os.mkfifo(root / "pyproject.toml")
    detected = _within(5, lambda: detect_build_systems(root, ["javascript"]))
    # a linked manifest is no manifest: its (host) content never shapes a command
    assert detected.found == []  # type: ignore[attr-defined]

"""Environment keys, the store's tenant layout, and the Python setup script."""

from __future__ import annotations

import os
import time
from pathlib import Path

from activities.sandbox.environments import EnvironmentStore, environment_key, tree_size
from activities.sandbox.node_env import node_binds, node_environment, node_setup_variables
from activities.sandbox.python_env import (
    dependency_group_requirements,
    python_environment,
    setup_script,
)
from domain.setup_plan import NodeEnvironment, PythonEnvironment, SetupPlan

PYTHON = PythonEnvironment(manifest="pyproject.toml", install_project=True, extras=["test"])
PLAN = SetupPlan(
    environments=[PYTHON], dependency_files=["pyproject.toml", "requirements-test.txt"]
)


def _key(tmp: Path, tenant: str = "t1", setup: str | None = None, repo: str = "r1") -> str:
    return environment_key(tenant, repo, tmp, PLAN, setup, "/usr/bin/python3")


def test_the_key_follows_dependency_files_tenant_repository_and_setup(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    first = _key(tmp_path)
    (tmp_path / "README.md").write_text("not a dependency file")
    assert _key(tmp_path) == first
    (tmp_path / "requirements-test.txt").write_text("pytest\n")
    assert _key(tmp_path) != first
    assert _key(tmp_path, tenant="t2") != _key(tmp_path)
    assert _key(tmp_path, repo="r2") != _key(tmp_path)
    assert _key(tmp_path, setup="make deps") != _key(tmp_path)


def test_published_environments_are_per_tenant_and_a_second_publish_keeps_the_first(
    tmp_path: Path,
) -> None:
    store = EnvironmentStore(tmp_path)
    staging = store.staging("tenant-a", "k" * 64)
    (staging / "marker").write_text("first")
    published = store.publish("tenant-a", "k" * 64, staging)
    assert store.lookup("tenant-a", "k" * 64) == published
    assert store.lookup("tenant-b", "k" * 64) is None
    late = store.staging("tenant-a", "k" * 64)
    (late / "marker").write_text("second")
    again = store.publish("tenant-a", "k" * 64, late)
    assert (again.path / "marker").read_text() == "first" and not late.exists()


def test_dependency_groups_are_expanded_and_options_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[dependency-groups]\n"
        'test = ["pytest>=8", {include-group = "lint"}, "--index-url=http://evil"]\n'
        'lint = ["ruff"]\n'
    )
    assert dependency_group_requirements(tmp_path, ["test"]) == ["pytest>=8", "ruff"]


def test_the_setup_script_installs_the_worktree_editable_with_its_test_needs(
    tmp_path: Path,
) -> None:
    (tmp_path / "requirements-test.txt").write_text("pretend\n")
    env = PythonEnvironment(
        manifest="pyproject.toml", install_project=True, extras=["test", "bad;rm"],
        requirement_files=["requirements-test.txt", "missing.txt"], test_packages=["pytest"],
    )  # fmt: skip
    script = setup_script(env, tmp_path, "/usr/bin/python3")
    assert script.splitlines()[0] == "/usr/bin/python3 -m venv /env/python"
    assert script.splitlines()[1].endswith(
        "-e '/workspace[test]' -r /workspace/requirements-test.txt pytest"
    )


def test_a_plan_with_python_and_node_has_both_environments(tmp_path: Path) -> None:
    node = NodeEnvironment(manager="npm", frozen=True)
    both = SetupPlan(environments=[PLAN.environments[0], node])
    assert python_environment(both) == PLAN.environments[0]
    assert node_environment(both) == node
    assert python_environment(PLAN) == PLAN.environments[0]


def test_node_modules_is_bound_over_the_worktree_unless_it_is_not_a_directory(
    tmp_path: Path,
) -> None:
    assert node_binds(tmp_path) == (("node/node_modules", "node_modules"),)
    (tmp_path / "node_modules").mkdir()
    assert node_binds(tmp_path) == (("node/node_modules", "node_modules"),)
    (tmp_path / "node_modules").rmdir()
    (tmp_path / "node_modules").symlink_to("/etc")
    assert node_binds(tmp_path) == ()


def test_without_a_lock_file_npm_and_pnpm_write_none() -> None:
    assert node_setup_variables(NodeEnvironment(manager="npm", frozen=False)) == {
        "npm_config_package_lock": "false",
        "npm_config_lockfile": "false",
    }
    locked = NodeEnvironment(manager="npm", lock_file="package-lock.json", frozen=True)
    assert node_setup_variables(locked) == {}


def test_purge_removes_unused_environments_and_stale_stagings_only(tmp_path: Path) -> None:
    store = EnvironmentStore(tmp_path)
    used = store.publish("t", "a" * 64, store.staging("t", "a" * 64))
    old = store.publish("t", "b" * 64, store.staging("t", "b" * 64))
    crashed = store.staging("t", "c" * 64)
    running = store.staging("t", "d" * 64)
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(old.path / ".complete", (week_ago, week_ago))
    os.utime(crashed, (week_ago, week_ago))

    assert store.purge(7 * 24 * 3600, 12 * 3600) == 2

    assert store.lookup("t", "a" * 64) == used and running.is_dir()
    assert not old.path.exists() and not crashed.exists()


def _published(store: EnvironmentStore, key: str, size: int, used_at: float) -> Path:
    staging = store.staging("t", key)
    (staging / "blob").write_bytes(os.urandom(size))
    published = store.publish("t", key, staging)
    published.lease.release()
    os.utime(published.path / ".complete", (used_at, used_at))
    return published.path


def test_purge_keeps_the_store_under_its_size_cap_least_recently_used_first(
    tmp_path: Path,
) -> None:
    mib = 1024 * 1024
    store = EnvironmentStore(tmp_path, max_bytes=int(2.5 * mib))
    now = time.time()
    oldest = _published(store, "a" * 64, mib, now - 400)
    older = _published(store, "b" * 64, mib, now - 300)
    recent = _published(store, "c" * 64, mib, now - 200)
    newest = _published(store, "d" * 64, mib, now - 100)
    assert tree_size(tmp_path) > 4 * mib

    # a build is using the least recently used one: it stays, the next ones go instead
    in_use = store.lookup("t", "a" * 64)
    assert in_use is not None and in_use.lease.held
    os.utime(oldest / ".complete", (now - 400, now - 400))  # lookup marked it used now

    assert store.purge(7 * 24 * 3600, 12 * 3600) == 2

    assert oldest.is_dir() and not older.exists() and not recent.exists() and newest.is_dir()
    assert tree_size(tmp_path) <= 2.5 * mib
    # once released, it is the least recently used and over the cap with a new one
    in_use.lease.release()
    _published(store, "e" * 64, mib, now)
    assert store.purge(7 * 24 * 3600, 12 * 3600) == 1
    assert not oldest.exists() and newest.is_dir()
    assert store.lookup("t", "a" * 64) is None


def test_a_setup_s_lease_holds_the_published_environment_and_no_cap_removes_nothing(
    tmp_path: Path,
) -> None:
    capped = EnvironmentStore(tmp_path, max_bytes=1)
    staging = capped.staging("t", "a" * 64)
    lease = capped.hold(staging)
    (staging / "blob").write_bytes(b"x" * 10_000)
    published = capped.publish("t", "a" * 64, staging, lease)
    assert published.lease is lease and lease.held
    assert capped.purge(7 * 24 * 3600, 12 * 3600) == 0  # in use: over the cap, kept
    lease.release()
    assert EnvironmentStore(tmp_path).purge(7 * 24 * 3600, 12 * 3600) == 0  # no cap
    assert capped.purge(7 * 24 * 3600, 12 * 3600) == 1
    assert not published.path.exists()


def test_a_uv_lock_is_installed_frozen_when_uv_is_there_else_pip_installs(
    tmp_path: Path,
) -> None:
    (tmp_path / "uv.lock").write_text("version = 1\n")
    env = PythonEnvironment(
        manifest="pyproject.toml", install_project=True, extras=["test"],
        lock_file="uv.lock", lock_tool="uv", test_packages=["pytest"],
    )  # fmt: skip
    lines = setup_script(env, tmp_path, "/usr/bin/python3", "/opt/uv").splitlines()
    assert lines[0] == "/usr/bin/python3 -m venv /env/python"
    assert lines[1] == (
        "UV_PROJECT_ENVIRONMENT=/env/python UV_LINK_MODE=copy UV_NO_PROGRESS=1 /opt/uv sync "
        "--frozen --project /workspace --python /env/python/bin/python --no-python-downloads "
        "--extra test"
    )
    assert lines[2].endswith(" pytest") and "pip install" in lines[2]
    # no uv on the worker: pip from the manifest, as without a lock
    assert "uv" not in setup_script(env, tmp_path, "/usr/bin/python3", None)

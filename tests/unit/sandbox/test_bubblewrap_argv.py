"""The bubblewrap command line: privileges dropped, filesystem from an allow-list, fixed paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from activities.sandbox import filesystem as fs
from activities.sandbox.bubblewrap import (
    EnvironmentMount,
    SandboxLayout,
    bubblewrap_launch,
    plan_mounts,
)
from activities.sandbox.config import SandboxConfig


def _pairs(argv: list[str], option: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == option]


@pytest.fixture
def layout(tmp_path: Path) -> SandboxLayout:
    worktree = tmp_path / "state" / "workspaces" / "w1"
    (worktree / ".git").mkdir(parents=True)
    for name in ("home", "tmp", "reports", "env"):
        (tmp_path / name).mkdir()
    return SandboxLayout(
        worktree=worktree,
        home=tmp_path / "home",
        tmp=tmp_path / "tmp",
        reports=tmp_path / "reports",
        environment=EnvironmentMount(tmp_path / "env"),
    )


def _argv(config: SandboxConfig, layout: SandboxLayout, *, net: bool = False) -> list[str]:
    plan = plan_mounts(config, layout, path_env="/usr/bin:/bin", environ={}, python_prefixes=[])
    launch = bubblewrap_launch(config, plan, ["make", "test"], allow_network=net)
    launch.close()
    return launch.argv


def test_privileges_are_dropped_and_namespaces_unshared(layout: SandboxLayout) -> None:
    argv = _argv(SandboxConfig(), layout)
    assert {"--unshare-all", "--unshare-user", "--disable-userns", "--new-session"} <= set(argv)
    assert {"--die-with-parent", "--seccomp"} <= set(argv)
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--uid") + 1] == "1000" and argv[argv.index("--gid") + 1] == "1000"
    assert "--share-net" not in argv
    assert "--share-net" in _argv(SandboxConfig(), layout, net=True)
    assert argv[-3:] == ["--", "make", "test"]
    assert argv[argv.index("--chdir") + 1] == "/workspace"


def test_root_is_never_bound_and_the_root_tmpfs_is_read_only(layout: SandboxLayout) -> None:
    argv = _argv(SandboxConfig(), layout)
    binds = _pairs(argv, "--ro-bind") + _pairs(argv, "--bind")
    assert ("/", "/") not in binds
    assert all(src != "/" for src, _ in binds)
    assert argv[argv.index("--remount-ro") + 1] == "/"


def test_run_directories_appear_at_fixed_paths_with_git_read_only(layout: SandboxLayout) -> None:
    argv = _argv(SandboxConfig(), layout)
    writable = dict((dst, src) for src, dst in _pairs(argv, "--bind"))
    read_only = dict((dst, src) for src, dst in _pairs(argv, "--ro-bind"))
    assert writable["/workspace"] == str(layout.worktree)
    assert writable["/home/builder"] == str(layout.home)
    assert writable["/tmp"] == str(layout.tmp)
    assert writable["/builder/reports"] == str(layout.reports)
    assert read_only["/workspace/.git"] == str(layout.worktree / ".git")
    assert read_only["/env"] == str(layout.environment.path)  # type: ignore[union-attr]
    # .git is mounted after (on top of) the worktree
    assert argv.index(str(layout.worktree / ".git")) > argv.index(str(layout.worktree))
    # the only writable binds are the run's own directories
    assert set(writable) == {"/workspace", "/home/builder", "/tmp", "/builder/reports"}


def test_a_writable_environment_is_bound_read_write(layout: SandboxLayout) -> None:
    env = EnvironmentMount(layout.home.parent / "env", writable=True)
    argv = _argv(SandboxConfig(), SandboxLayout(**{**layout.__dict__, "environment": env}))
    assert (str(env.path), "/env") in _pairs(argv, "--bind")


def test_a_git_symlink_in_the_worktree_is_refused(layout: SandboxLayout, tmp_path: Path) -> None:
    (layout.worktree / ".git").rmdir()
    (layout.worktree / ".git").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="not a directory"):
        plan_mounts(SandboxConfig(), layout, path_env="", environ={}, python_prefixes=[])


def test_identity_files_are_synthesized_and_secret_etc_entries_never_bound(
    layout: SandboxLayout,
) -> None:
    argv = _argv(SandboxConfig(), layout)
    data_targets = [argv[i + 2] for i, a in enumerate(argv) if a == "--ro-bind-data"]
    assert data_targets == ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf"]
    targets = {dst for _, dst in _pairs(argv, "--ro-bind")}
    for secret in ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh", "/etc/ssl/private"):
        assert not any(t == secret or t.startswith(secret + "/") for t in targets), secret
    passwd = fs.identity_files(1000, 1000, "builder")[0].data.decode()
    assert "builder:x:1000:1000:builder:/home/builder:/bin/sh" in passwd


def test_etc_symlinks_stay_links_when_their_target_is_visible(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")
    outside = tmp_path / "run" / "resolv.conf"
    outside.parent.mkdir()
    outside.write_text("nameserver 10.0.0.1\n")
    (etc / "resolv.conf").symlink_to(outside)
    (etc / "shadow").write_text("root:x:...\n")
    mounts = fs.etc_mounts(["localtime", "resolv.conf", "shadow"], ["/usr"], etc=str(etc))
    assert fs.Mount("symlink", "/etc/localtime", "/usr/share/zoneinfo/Etc/UTC") in mounts
    assert fs.Mount("ro-bind", "/etc/resolv.conf", str(outside)) in mounts
    assert not any(m.target == "/etc/shadow" for m in mounts)


def test_toolchains_in_a_home_are_bound_but_secret_stores_and_homes_are_not(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home" / "op"
    for sub in (".pyenv/shims", ".cargo/bin", ".rustup", ".local/bin", ".ssh/bin", ".nvm/v/bin"):
        (home / sub).mkdir(parents=True)
    (home / ".cargo" / "credentials.toml").write_text("token = 'x'\n")
    state = tmp_path / "state"
    (state / "bin").mkdir(parents=True)
    path_env = ":".join(
        [str(home / s) for s in (".pyenv/shims", ".cargo/bin", ".local/bin", ".ssh/bin")]
        + [str(home / ".nvm/v/bin"), str(home), str(state / "bin"), "/usr/bin"]
    )
    found = fs.toolchain_mounts(
        path_env, [], [], {"HOME": str(home)}, ["/usr"], [*fs.NEVER_MOUNTED, str(state)],
        reserved=(),
    )  # fmt: skip
    bound = [m.source for m in found.mounts]
    assert sorted(bound) == sorted(
        str(home / s) for s in (".pyenv", ".cargo/bin", ".rustup", ".local/bin", ".nvm")
    )
    assert found.variables == {"RUSTUP_HOME": str(home / ".rustup")}
    assert all(m.kind == "ro-bind" and m.source == m.target for m in found.mounts)


def test_extra_binds_below_a_denied_path_are_left_out(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "tools").mkdir(parents=True)
    (tmp_path / "tools").mkdir()
    found = fs.toolchain_mounts(
        "", [], [str(state / "tools"), str(tmp_path / "tools")], {}, ["/usr"], [str(state)],
        reserved=(),
    )  # fmt: skip
    assert [m.source for m in found.mounts] == [str(tmp_path / "tools")]


def test_toolchains_under_the_sandboxes_own_paths_cannot_be_bound(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    found = fs.toolchain_mounts(str(tmp_path / "bin"), [], [], {}, ["/usr"], [])
    assert str(tmp_path).startswith("/tmp/") and found.mounts == []


def test_system_dirs_keep_merged_usr_symlinks(tmp_path: Path) -> None:
    mounts = fs.system_mounts(["/usr", "/bin", str(tmp_path / "missing")])
    assert mounts[0] == fs.Mount("ro-bind", "/usr", "/usr")
    if os.path.islink("/bin"):
        assert mounts[1] == fs.Mount("symlink", "/bin", os.readlink("/bin"))
    else:
        assert mounts[1] == fs.Mount("ro-bind", "/bin", "/bin")
    assert len(mounts) == 2

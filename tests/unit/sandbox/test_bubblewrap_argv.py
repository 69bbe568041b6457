"""The bubblewrap command line: secrets hidden first, toolchains and the worktree bound after."""

from __future__ import annotations

from pathlib import Path

from activities.sandbox.bubblewrap import bubblewrap_argv, toolchain_binds
from activities.sandbox.config import SandboxConfig


def _pairs(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


def test_network_is_unshared_unless_allowed(tmp_path: Path) -> None:
    def build(net: bool) -> list[str]:
        return bubblewrap_argv(
            SandboxConfig(), ["true"], cwd=tmp_path, writable=[tmp_path], allow_network=net,
            path_env="/usr/bin", python_prefixes=[],
        )  # fmt: skip

    assert "--unshare-all" in build(False) and "--share-net" not in build(False)
    assert "--share-net" in build(True)
    assert {"--die-with-parent", "--new-session"} <= set(build(False))


def test_worktree_is_bound_writable_after_the_hidden_home_that_contains_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    worktree = home / ".builder" / "worktrees" / "w1"
    worktree.mkdir(parents=True)
    key = home / ".builder" / "vault.key"
    key.write_text("k")
    config = SandboxConfig(hidden_paths=(str(home), str(key)))
    argv = bubblewrap_argv(
        config, ["make"], cwd=worktree, writable=[worktree], allow_network=False,
        path_env="/usr/bin", python_prefixes=[],
    )  # fmt: skip
    assert argv.index(str(home)) < argv.index(str(key)) < argv.index("--bind")
    assert _pairs(argv, "--bind") == [str(worktree)]
    assert "/dev/null" in argv[argv.index(str(key)) - 1]
    assert argv[-2:] == ["--", "make"]


def test_toolchains_in_a_hidden_home_are_reexposed_but_secret_stores_are_not(
    tmp_path: Path,
) -> None:
    home = tmp_path / "root"
    for sub in (".pyenv/shims", ".cargo/bin", ".local/bin", ".ssh/bin", ".builder/bin"):
        (home / sub).mkdir(parents=True)
    path_env = ":".join(
        str(home / sub) for sub in (".pyenv/shims", ".cargo/bin", ".local/bin", ".ssh/bin",
                                    ".builder/bin")
    ) + ":/usr/bin"  # fmt: skip
    binds = toolchain_binds(path_env, [home], [])
    assert binds == [home / ".pyenv", home / ".cargo", home / ".local" / "bin"]

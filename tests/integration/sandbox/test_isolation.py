"""Inside the sandbox: no network, no secrets on disk or in the environment, no writes outside."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.sandbox import SandboxConfig, SandboxRunner
from domain.errors import SandboxUnavailable

CONNECT = (
    "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2); "
    "print('connected')"
)


@pytest.fixture
def listening_port() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_network_connection_fails_unless_the_run_allows_network(
    runner: SandboxRunner, worktree: Path, listening_port: int
) -> None:
    argv = [sys.executable, "-c", CONNECT, str(listening_port)]
    denied = runner.run(argv, worktree, timeout_s=20)
    assert denied.exit_code != 0
    assert "connected" not in denied.output
    assert "Network is unreachable" in denied.output or "refused" in denied.output

    allowed = runner.run(argv, worktree, timeout_s=20, allow_network=True)
    assert allowed.exit_code == 0, allowed.output
    assert "connected" in allowed.output


@pytest.fixture
def vault_key_in_home() -> Iterator[Path]:
    """A fake vault key where builder keeps its state: a dot dir under the operator's home."""
    state = Path.home() / f".builder-sandbox-test-{uuid.uuid4().hex[:8]}"
    state.mkdir()
    key = state / "vault.key"
    key.write_text("planted-vault-key-material\n")
    yield key
    key.unlink()
    state.rmdir()


def test_vault_key_under_the_home_directory_cannot_be_read(
    runner: SandboxRunner, worktree: Path, vault_key_in_home: Path
) -> None:
    assert vault_key_in_home.read_text()  # readable outside the sandbox
    result = runner.run(["cat", str(vault_key_in_home)], worktree, timeout_s=20)
    assert result.exit_code != 0
    assert "planted-vault-key-material" not in result.output
    assert "No such file or directory" in result.output


def test_a_secret_outside_the_allow_list_is_absent_even_when_asked_for(worktree: Path) -> None:
    state = Path("/var/tmp") / f"builder-state-{uuid.uuid4().hex[:8]}"
    (state / "tools").mkdir(parents=True)
    try:
        (state / "vault.key").write_text("planted-vault-key-material\n")
        (state / "tools" / "tool.txt").write_text("a tool\n")
        # an operator's extra bind below the state dir is left out, not honoured
        config = SandboxConfig(extra_denied=(str(state),), extra_ro_binds=(state / "tools",))
        denied = SandboxRunner(config).run(
            f"cat {state / 'vault.key'} {state / 'tools' / 'tool.txt'}", worktree, timeout_s=20
        )
        default = SandboxRunner().run(["cat", str(state / "vault.key")], worktree, timeout_s=20)
    finally:
        (state / "vault.key").unlink()
        (state / "tools" / "tool.txt").unlink()
        (state / "tools").rmdir()
        state.rmdir()
    assert denied.exit_code != 0 and default.exit_code != 0
    assert "planted-vault-key-material" not in denied.output + default.output
    assert "a tool" not in denied.output
    # nothing had to hide it: /var is simply not in the sandbox
    assert "No such file or directory" in default.output


def test_writes_land_in_the_worktree_only(runner: SandboxRunner, worktree: Path) -> None:
    outside = Path("/var/lib") / f"sandbox-escape-{uuid.uuid4().hex[:8]}"
    private_tmp = Path("/tmp") / f"sandbox-tmp-{uuid.uuid4().hex[:8]}"
    private_var_tmp = Path("/var/tmp") / f"sandbox-tmp-{uuid.uuid4().hex[:8]}"
    script = (
        f"echo inside > built.txt && echo tmp > {private_tmp} && echo tmp > {private_var_tmp} "
        f"&& (echo escaped > {outside}; echo outside-status=$?) && "
        f"(echo escaped > /etc/sandbox-test; echo etc-status=$?) && "
        f"(echo escaped > /sandbox-test; echo root-status=$?)"
    )
    result = runner.run(script, worktree, timeout_s=20)
    assert result.exit_code == 0, result.output
    assert (worktree / "built.txt").read_text() == "inside\n"
    for status in ("outside-status=0", "etc-status=0", "root-status=0"):
        assert status not in result.output
    assert "Read-only file system" in result.output
    assert not outside.exists()
    assert not Path("/etc/sandbox-test").exists() and not Path("/sandbox-test").exists()
    # /tmp and /var/tmp inside are the run's own scratch, gone with the run
    assert not private_tmp.exists() and not private_var_tmp.exists()


def test_builder_and_cloud_variables_of_the_worker_are_absent(
    runner: SandboxRunner, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDER_VAULT_KEY", "planted-builder-secret")
    monkeypatch.setenv("BUILDER_DATABASE_URL", "postgresql://u:planted-db-password@h/db")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted-aws-secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    result = runner.run(["env"], worktree, timeout_s=20, env={"NODE_ENV": "test"})
    assert result.exit_code == 0
    assert "planted" not in result.output
    assert "BUILDER_" not in result.output and "AWS_" not in result.output
    lines = set(result.output.splitlines())
    assert {"NODE_ENV=test", "LANG=C.UTF-8", "CI=true"} <= lines
    home = next(line for line in lines if line.startswith("HOME="))
    assert home != f"HOME={Path.home()}"


def test_unsandboxed_mode_still_scrubs_the_environment(
    bare_runner: SandboxRunner, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BUILDER_VAULT_KEY", "planted-builder-secret")
    result = bare_runner.run(["env"], worktree, timeout_s=20)
    assert not result.sandboxed
    assert "planted" not in result.output
    assert f"HOME={os.environ['HOME']}\n" not in result.output


def test_missing_bubblewrap_is_refused_with_how_to_fix_it(worktree: Path) -> None:
    runner = SandboxRunner(SandboxConfig(bwrap_path="/nonexistent/bwrap"))
    with pytest.raises(SandboxUnavailable) as caught:
        runner.run(["true"], worktree, timeout_s=5)
    message = caught.value.message
    assert "/nonexistent/bwrap" in message
    assert "install bubblewrap" in message.lower()
    assert "allow_unsandboxed" in message


def test_worktree_inside_the_hidden_state_dir_is_writable_while_its_siblings_stay_hidden(
    runner: SandboxRunner,
) -> None:
    state = Path.home() / f".builder-sandbox-test-{uuid.uuid4().hex[:8]}"
    worktree = state / "worktrees" / "w1"
    worktree.mkdir(parents=True)
    (state / "vault.key").write_text("planted-vault-key-material\n")
    try:
        result = runner.run(
            f"echo built > out.txt && cat {state / 'vault.key'}", worktree, timeout_s=20
        )
        written = (worktree / "out.txt").read_text()
    finally:
        (state / "vault.key").unlink()
        (worktree / "out.txt").unlink(missing_ok=True)
        worktree.rmdir()
        (state / "worktrees").rmdir()
        state.rmdir()
    assert written == "built\n"
    assert result.exit_code != 0
    assert "planted-vault-key-material" not in result.output

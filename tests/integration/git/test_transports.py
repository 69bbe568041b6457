"""Clone and push over every transport and credential type against real servers."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from activities.git import GitCredential, GitEngine
from domain.edits import WriteEdit
from domain.errors import RepositoryAccessError
from tests.fixtures.git_servers import HttpGitServer, SshGitServer, _git
from tests.integration.git.support import basic, oauth, ssh_key, token


def _clone_edit_push(engine: GitEngine, url: str, credential: GitCredential | None) -> str:
    ws = engine.open_workspace(
        url, credential, "exec-1", "main", "builder/transport-test-1", tenant="tenant-a"
    )
    assert (ws.path / "README.md").read_text() == "# fixture repository\n"
    engine.apply_edits(ws.path, [WriteEdit(path="NEW.md", content="pushed\n")])
    result = engine.commit(ws.path, "Add NEW.md", timestamp=1_700_000_100)
    pushed = engine.push_branch(ws.path, url, credential, "builder/transport-test-1")
    assert pushed.remote_sha == result.sha
    assert not pushed.already_up_to_date
    return result.sha


def test_clone_and_push_to_a_local_bare_repository(engine: GitEngine, bare_remote) -> None:
    remote: Path = bare_remote(files=20)
    sha = _clone_edit_push(engine, str(remote), None)
    assert _git("rev-parse", "refs/heads/builder/transport-test-1", cwd=remote).strip() == sha


def test_clone_and_push_over_http_with_basic_auth(
    engine: GitEngine, http_git_server: HttpGitServer
) -> None:
    name = http_git_server.add_repo(files=20)
    url = http_git_server.url(name, "basic")
    sha = _clone_edit_push(engine, url, basic(http_git_server.username, http_git_server.password))
    refs = engine.list_remote_refs(url, basic(http_git_server.username, http_git_server.password))
    assert refs["refs/heads/builder/transport-test-1"] == sha


@pytest.mark.parametrize("kind", ["token", "oauth"])
def test_clone_and_push_over_http_with_a_token(
    engine: GitEngine, http_git_server: HttpGitServer, kind: str
) -> None:
    name = http_git_server.add_repo(files=20)
    url = http_git_server.url(name, "token")
    credential = token(http_git_server.token) if kind == "token" else oauth(http_git_server.token)
    sha = _clone_edit_push(engine, url, credential)
    assert (
        _git(
            "rev-parse", "refs/heads/builder/transport-test-1", cwd=http_git_server.root / name
        ).strip()
        == sha
    )


def test_http_server_accepts_the_token_as_a_bearer_header(http_git_server: HttpGitServer) -> None:
    name = http_git_server.add_repo(files=1)
    url = http_git_server.url(name, "token") + "/info/refs?service=git-upload-pack"
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {http_git_server.token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert b"refs/heads/main" in response.read()
    wrong = urllib.request.Request(url, headers={"Authorization": "Bearer nope"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=5)
    assert refused.value.code == 401
    user_pass = base64.b64encode(b"anyone:" + http_git_server.token.encode()).decode()
    as_basic = urllib.request.Request(url, headers={"Authorization": f"Basic {user_pass}"})
    with urllib.request.urlopen(as_basic, timeout=5) as response:
        assert response.status == 200


def test_clone_and_push_over_ssh_with_a_private_key(
    engine: GitEngine, ssh_git_server: SshGitServer
) -> None:
    name = ssh_git_server.add_repo(files=20)
    url = ssh_git_server.url(name)
    sha = _clone_edit_push(engine, url, ssh_key(ssh_git_server.private_key))
    assert (
        _git(
            "rev-parse", "refs/heads/builder/transport-test-1", cwd=ssh_git_server.root / name
        ).strip()
        == sha
    )


def test_wrong_basic_password_is_a_repository_access_error_without_the_secret(
    engine: GitEngine, http_git_server: HttpGitServer
) -> None:
    url = http_git_server.url(http_git_server.add_repo(files=1), "basic")
    secret = "wrong-Pa55word-that-must-not-leak"
    with pytest.raises(RepositoryAccessError) as failure:
        engine.list_remote_refs(url, basic(http_git_server.username, secret))
    assert "rejected the basic credential" in failure.value.message
    assert secret not in str(failure.value)
    assert failure.value.retryable is False


def test_wrong_token_fails_once_without_looping_or_leaking(
    engine: GitEngine, http_git_server: HttpGitServer
) -> None:
    url = http_git_server.url(http_git_server.add_repo(files=1), "token")
    secret = "tok_wrong_must_not_leak_123"
    before = len(http_git_server.requests)
    with pytest.raises(RepositoryAccessError) as failure:
        engine.open_workspace(
            url, token(secret), "exec-x", "main", "builder/x-1", tenant="tenant-a"
        )
    assert secret not in str(failure.value)
    # libgit2 would retry the credential forever; we stop after one rejected attempt
    assert len(http_git_server.requests) - before <= 3


def test_anonymous_access_to_a_protected_server_names_the_missing_credential(
    engine: GitEngine, http_git_server: HttpGitServer
) -> None:
    url = http_git_server.url(http_git_server.add_repo(files=1), "basic")
    with pytest.raises(RepositoryAccessError, match="requires authentication"):
        engine.list_remote_refs(url, None)


def test_wrong_ssh_key_is_a_repository_access_error(
    engine: GitEngine, ssh_git_server: SshGitServer
) -> None:
    url = ssh_git_server.url(ssh_git_server.add_repo(files=1))
    with pytest.raises(RepositoryAccessError) as failure:
        engine.list_remote_refs(url, ssh_key(ssh_git_server.wrong_private_key))
    assert "rejected the ssh_key credential" in failure.value.message
    assert "PRIVATE KEY" not in str(failure.value)


def test_unknown_ssh_host_key_is_refused_unless_configured(
    tmp_path: Path, ssh_git_server: SshGitServer
) -> None:
    from tests.integration.git.support import engine_for

    strict = engine_for(tmp_path, ssh_unverified_hosts=())
    url = ssh_git_server.url(ssh_git_server.add_repo(files=1))
    with pytest.raises(RepositoryAccessError, match="could not be verified"):
        strict.list_remote_refs(url, ssh_key(ssh_git_server.private_key))

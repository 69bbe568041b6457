"""The remote URL policy: allowed transports, refused helpers, credentials and hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.git import GitConfig, check_remote_url, default_denied_hosts, redact_url
from domain.errors import PolicyViolation


def _config(**overrides: object) -> GitConfig:
    return GitConfig(workspace_root=Path("/tmp/ws"), mirror_root=Path("/tmp/m"), **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "transport", "host"),
    [
        ("https://github.com/acme/app.git", "https", "github.com"),
        ("ssh://git@gitlab.com:2222/acme/app.git", "ssh", "gitlab.com"),
        ("git@github.com:acme/app.git", "ssh", "github.com"),
    ],
)
def test_https_ssh_and_scp_like_urls_are_accepted(url: str, transport: str, host: str) -> None:
    location = check_remote_url(url, _config(denied_hosts=()))
    assert (location.transport, location.host) == (transport, host)


@pytest.mark.parametrize(
    "url",
    ["ext::sh -c touch% /tmp/pwned", "fd::17", "git://github.com/acme/app.git", "ftp://host/x"],
)
def test_transport_helpers_and_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(PolicyViolation):
        check_remote_url(url, _config(allow_local_remotes=True, denied_hosts=()))


def test_plain_http_is_refused_unless_allowed() -> None:
    with pytest.raises(PolicyViolation, match="plain http"):
        check_remote_url("http://example.com/a.git", _config(denied_hosts=()))
    assert check_remote_url(
        "http://example.com/a.git", _config(denied_hosts=(), allow_plain_http=True)
    )


@pytest.mark.parametrize("url", ["/srv/git/app.git", "file:///srv/git/app.git", "./app.git"])
def test_local_remotes_need_explicit_permission(url: str) -> None:
    with pytest.raises(PolicyViolation, match="local"):
        check_remote_url(url, _config())
    assert check_remote_url(url, _config(allow_local_remotes=True)).transport == "local"


@pytest.mark.parametrize(
    "url",
    ["https://user:hunter2secret@github.com/a.git", "https://ghp_tokenvalue@github.com/a.git"],
)
def test_embedded_credentials_are_refused_without_repeating_the_url(url: str) -> None:
    with pytest.raises(PolicyViolation) as refused:
        check_remote_url(url, _config(denied_hosts=()))
    assert "hunter2secret" not in refused.value.message
    assert "ghp_tokenvalue" not in refused.value.message
    assert "embeds credentials" in refused.value.message


def test_redact_url_keeps_ssh_user_but_hides_passwords() -> None:
    assert redact_url("ssh://git@host/x.git") == "ssh://git@host/x.git"
    assert redact_url("https://u:pw@host/x.git") == "https://u:***@host/x.git"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/a.git",
        "https://localhost/a.git",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/a.git",
        "git@127.0.0.2:a.git",
        "https://metadata.google.internal/x",
    ],
)
def test_default_deny_list_blocks_loopback_link_local_and_metadata(url: str) -> None:
    with pytest.raises(PolicyViolation, match="denied"):
        check_remote_url(url, _config(denied_hosts=default_denied_hosts()))

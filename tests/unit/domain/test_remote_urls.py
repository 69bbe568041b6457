"""The remote URL rules in domain: credentials in the query, the OpenAPI pattern saying the
same as the checks, and messages that never repeat the URL."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.remote_urls import RemotePolicy, redact_url, url_pattern, url_problem

OPEN = RemotePolicy(allow_local_remotes=True, allow_plain_http=True, denied_hosts=())
STRICT = RemotePolicy(denied_hosts=())


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/acme/app.git?token=ghp_plantedsecret",
        "https://git.example.com/acme/app.git?access_token=ghp_plantedsecret",
        "https://git.example.com/acme/app.git?private_token=ghp_plantedsecret",
        "https://git.example.com/acme/app.git?password=ghp_plantedsecret",
        "https://git.example.com/acme/app.git?ref=main&X-Api-Key=ghp_plantedsecret",
        "https://git.example.com/acme/app.git?SIG=ghp_plantedsecret",
    ],
)
def test_a_credential_in_the_query_is_refused_like_user_info(url: str) -> None:
    problem = url_problem(url, OPEN)
    assert problem is not None and "credential in its query" in problem
    assert "ghp_plantedsecret" not in problem
    assert "ghp_plantedsecret" not in redact_url(url)
    assert not re.match(url_pattern(OPEN), url)


def test_an_ordinary_query_is_kept() -> None:
    url = "https://git.example.com/acme/app.git?ref=main&depth=1"
    assert url_problem(url, OPEN) is None
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/acme/app.git",
        "HTTPS://GitHub.com/acme/app.git",
        "ssh://git@gitlab.com:2222/acme/app.git",
        "git@github.com:acme/app.git",
        "https://dev.azure.com/org/project/_git/repo",
        "https://[2001:db8::1]/x.git",
    ],
)
def test_ordinary_git_urls_are_accepted_by_rules_and_pattern(url: str) -> None:
    assert url_problem(url, STRICT) is None
    assert re.match(url_pattern(STRICT), url)


def _pattern_accepts(pattern: str, url: str) -> bool:
    match = re.search(pattern, url)
    return match is not None and match.end() == len(url)  # ECMA `$`: no trailing newline


ALPHABET = st.sampled_from(
    ["https://", "http://", "ssh://", "file://", "git@", "h", "host.x", ":", "/", "?", "&",
     "=", "token", "ref", "@", "::", "[", "]", "1", " ", "\n", ".", "%", "-", "~", "ext"]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(ALPHABET, max_size=8).map("".join), st.sampled_from([OPEN, STRICT]))
def test_the_schema_pattern_and_the_rules_agree(url: str, policy: RemotePolicy) -> None:
    assert (url_problem(url, policy) is None) == _pattern_accepts(url_pattern(policy), url)

"""Planted secrets, registered or merely credential-shaped, never reach a log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from builder.observability.logging import configure_logging
from domain.redaction import (
    SecretRegistry,
    clear_registered_secrets,
    redact,
    register_secret,
    register_secrets,
    secret_registry,
)

PEM = """-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCoPLANTEDKEYMATERIALxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
-----END OPENSSH PRIVATE KEY-----"""


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    clear_registered_secrets()
    stream = io.StringIO()
    handler = configure_logging("DEBUG", json=True, stream=stream)
    yield stream
    logging.getLogger().removeHandler(handler)
    clear_registered_secrets()


def test_registered_secret_is_removed_from_message_args_extras_and_traceback(
    log_stream: io.StringIO,
) -> None:
    secret = "s3cr3t-Planted-Value-42"
    register_secret(SecretStr(secret))
    log = logging.getLogger("builder.test")
    log.info("token is %s", secret, extra={"detail": {"nested": [f"x{secret}y"]}})
    try:
        raise RuntimeError(f"remote said no to {secret}")
    except RuntimeError:
        log.exception("clone failed")
    with pytest.raises(RuntimeError):
        # A secret bound as context is redacted as well.
        from builder.observability.context import log_context

        with log_context(execution_id=secret):
            log.warning("bound")
            raise RuntimeError

    output = log_stream.getvalue()
    assert secret not in output
    assert output.count("***") >= 4
    first = json.loads(output.splitlines()[0])
    assert first["message"] == "token is ***"
    assert first["detail"] == {"nested": ["x***y"]}


def test_url_encoded_form_of_a_registered_secret_is_removed() -> None:
    clear_registered_secrets()
    register_secret("p@ss/word:with spaces")
    try:
        text = redact("cloning https://bob:p%40ss%2Fword%3Awith%20spaces@git.example/x.git")
    finally:
        clear_registered_secrets()
    assert "p%40ss" not in text


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("fetch https://user:hunter2pass@git.example.com/org/repo.git", "hunter2pass"),
        ("push to https://ghx_tokenonly123@github.example/org/r.git", "ghx_tokenonly123"),
        ("headers={'Authorization': 'Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig'}", "eyJhbGci"),
        ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
        ("proxy-authorization=token abcdef123456", "abcdef123456"),
        ("created key bld_Zx8Qk2mN4pL7rT9vW1yB3dF5 for tenant", "bld_Zx8Qk2mN4pL7rT9vW1yB3dF5"),
        ("GITHUB ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_abcdefghij"),
        ("gitlab glpat-abcdefghij0123456789", "glpat-abcdefghij"),
        ("llm key sk-ant-api03-abcdefghijklmnopqrstuvwx", "sk-ant-api03"),
        ('{"password": "correct horse battery"}', "correct"),
        ("aws AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE"),
        (f"deploy key:\n{PEM}\nend", "PLANTEDKEYMATERIAL"),
        ("truncated -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAPLANTED", "MIIEpAIB"),
    ],
)
def test_credential_shaped_text_is_redacted_without_registration(text: str, leak: str) -> None:
    clear_registered_secrets()
    redacted = redact(text)
    assert leak not in redacted
    assert "***" in redacted


def test_ordinary_text_is_left_alone() -> None:
    clear_registered_secrets()
    text = "cloned https://git.example.com/org/repo.git at 3f2a1c in 1.2s; 12 files, authorized"
    assert redact(text) == text


def test_pattern_secrets_never_reach_the_json_output(log_stream: io.StringIO) -> None:
    log = logging.getLogger("builder.test")
    log.error("push failed for https://ci:Planted-Pw-77@git.example/r.git")
    log.info("request headers", extra={"headers": {"Authorization": "Bearer PlantedBearer99"}})
    log.info("key material %s", PEM)
    output = log_stream.getvalue()
    for leak in ("Planted-Pw-77", "PlantedBearer99", "PLANTEDKEYMATERIAL"):
        assert leak not in output
    assert len(output.splitlines()) == 3


def test_registry_forgets_oldest_values_beyond_capacity_and_hides_them_in_repr() -> None:
    registry = SecretRegistry(capacity=2)
    for value in ("first-secret", "second-secret", "third-secret"):
        registry.register(value)
    pattern = registry.pattern()
    assert pattern is not None
    assert pattern.search("first-secret") is None
    assert pattern.search("third-secret") is not None
    assert "secret" not in repr(registry)


def test_short_and_missing_values_are_not_registered() -> None:
    clear_registered_secrets()
    register_secrets([None, "ab", SecretStr("")])
    assert len(secret_registry()) == 0
    assert redact("ab cd") == "ab cd"


def test_values_under_credential_named_keys_are_replaced_but_ids_and_counts_kept(
    log_stream: io.StringIO,
) -> None:
    logging.getLogger("builder.test").info(
        "llm call",
        extra={
            "access_token": "PlantedAccessToken",
            "settings": {"llm_api_key": "PlantedLlmKey", "password": None},
            "credential_id": "cred-7",
            "tokens_used": 1234,
        },
    )
    (record,) = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert record["access_token"] == "***"
    assert record["settings"] == {"llm_api_key": "***", "password": None}
    assert record["credential_id"] == "cred-7"
    assert record["tokens_used"] == 1234

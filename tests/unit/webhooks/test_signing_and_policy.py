"""Standard Webhooks signatures (checked against the reference library), the destination
policy, and the retry schedule."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from activities.webhooks import DestinationPolicy, WebhookConfig, check_destination
from activities.webhooks.signing import (
    InvalidSecret,
    generate_secret,
    secret_key,
    signature,
    signature_header,
)
from domain.errors import PolicyViolation

BODY = b'{"type":"execution.completed","timestamp":"2024-01-01T00:00:00Z","data":{}}'


def test_signature_matches_the_reference_implementation() -> None:
    secret = generate_secret()
    when = datetime(2024, 1, 19, 0, 13, 51, tzinfo=UTC)
    ours = signature(secret, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", int(when.timestamp()), BODY)
    theirs = Webhook(secret).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", when, BODY.decode())
    assert ours == theirs and ours.startswith("v1,")


def test_every_live_secret_signs_and_any_one_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    header = signature_header([new, old], "msg_x", 1_700_000_000, BODY)
    assert header.count("v1,") == 2 and header.split(" ")[0] == signature(
        new, "msg_x", 1_700_000_000, BODY
    )


def test_generated_secrets_follow_the_spec() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_") and len(secret_key(secret)) == 32
    assert generate_secret() != secret


@pytest.mark.parametrize(
    "bad",
    ["abc", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()],
)
def test_malformed_secrets_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSecret):
        secret_key(bad)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://[::1]:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback or metadata"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://metadata.google.internal/x", "loopback or metadata"),
        ("https://10.0.0.8/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("https://172.16.4.4/hook", "private"),
        ("https://100.64.0.1/hook", "carrier-grade NAT"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://0.0.0.0/hook", "unspecified"),
    ],
)
def test_private_destinations_are_refused_by_default(url: str, why: str) -> None:
    with pytest.raises(PolicyViolation) as caught:
        check_destination(url, DestinationPolicy())
    assert why in caught.value.message


def test_public_addresses_pass_and_the_connection_is_pinned_to_the_checked_one() -> None:
    destination = check_destination("https://93.184.215.14:8443/hook?x=1", DestinationPolicy())
    assert destination.pinned_url == "https://93.184.215.14:8443/hook?x=1"
    assert destination.host_header == "93.184.215.14:8443"


def test_dev_allows_this_machine_and_plain_http_can_be_refused() -> None:
    dev = DestinationPolicy(allow_private=True)
    assert check_destination("http://127.0.0.1:9000/h", dev).address == "127.0.0.1"
    with pytest.raises(PolicyViolation, match="must use https"):
        check_destination("http://93.184.215.14/h", DestinationPolicy(allow_http=False))


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    config = WebhookConfig(backoff_base_seconds=5, backoff_max_seconds=60)
    first = [config.backoff(1) for _ in range(50)]
    assert all(4.0 <= d <= 6.0 for d in first) and len(set(first)) > 1
    assert all(16.0 <= config.backoff(3) <= 24.0 for _ in range(20))
    assert all(config.backoff(20) <= 60 for _ in range(20))
    assert config.backoff(1, retry_after=30) >= 30
    assert config.backoff(1, retry_after=10_000) == 60


def test_the_api_and_cli_offer_exactly_the_subscribable_event_types() -> None:
    from api.schemas.webhooks import EventTypeName
    from builder.cli.webhooks import EVENT_TYPES
    from domain.webhooks import WEBHOOK_EVENT_TYPES

    assert set(EventTypeName.__args__) == WEBHOOK_EVENT_TYPES == set(EVENT_TYPES)  # type: ignore[attr-defined]

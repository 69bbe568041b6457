"""Outbound webhooks: Standard Webhooks signing, the destination policy, one POST, and the
dispatcher that drains the Postgres outbox."""

from activities.webhooks.destinations import Destination, DestinationPolicy, check_destination
from activities.webhooks.dispatcher import WebhookConfig, WebhookDispatcher
from activities.webhooks.signing import generate_secret, signature, signature_header

__all__ = [
    "Destination",
    "DestinationPolicy",
    "WebhookConfig",
    "WebhookDispatcher",
    "check_destination",
    "generate_secret",
    "signature",
    "signature_header",
]

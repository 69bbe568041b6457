"""Outbound webhooks: which events a subscription may receive and the rules its fields obey."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from urllib.parse import urlsplit

from domain.errors import FieldError
from domain.events import EventType

MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 255


class WebhookEventType(StrEnum):
    """The event types a subscription can ask for (a subset of the execution event log)."""

    EXECUTION_COMPLETED = EventType.EXECUTION_COMPLETED.value
    EXECUTION_FAILED = EventType.EXECUTION_FAILED.value
    EXECUTION_CANCELLED = EventType.EXECUTION_CANCELLED.value
    PLAN_APPROVAL_REQUESTED = EventType.PLAN_APPROVAL_REQUESTED.value
    PULL_REQUEST_OPENED = EventType.PULL_REQUEST_OPENED.value
    PULL_REQUEST_UPDATED = EventType.PULL_REQUEST_UPDATED.value


WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(t.value for t in WebhookEventType)
"""Only these appends look for subscriptions; every other append costs nothing extra."""


class WebhookMessageStatus(StrEnum):
    """Where one message stands: waiting for (another) attempt, delivered, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def subscription_errors(
    url: str | None, event_types: Sequence[str] | None, description: str | None
) -> list[FieldError]:
    """Broken rules of a subscription's fields (the destination policy is checked apart)."""
    errors: list[FieldError] = []
    if not url:
        errors.append(FieldError("url", "url is required"))
    elif len(url) > MAX_URL_LENGTH:
        errors.append(FieldError("url", f"url must be {MAX_URL_LENGTH} characters or less"))
    else:
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:
            parts, hostname = None, None
        if parts is None or parts.scheme not in ("http", "https") or not hostname:
            errors.append(FieldError("url", "url must be an absolute http or https URL"))
        elif parts.username is not None or parts.password is not None:
            errors.append(FieldError("url", "url must not embed credentials"))
        elif parts.fragment:
            errors.append(FieldError("url", "url must not have a fragment"))
    if event_types is not None:
        if not event_types:
            errors.append(FieldError("event_types", "event_types must name at least one event"))
        unknown = sorted(set(event_types) - WEBHOOK_EVENT_TYPES)
        if unknown:
            errors.append(
                FieldError(
                    "event_types",
                    f"unknown event types {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(WEBHOOK_EVENT_TYPES))}",
                )
            )
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        errors.append(
            FieldError(
                "description", f"description must be {MAX_DESCRIPTION_LENGTH} characters or less"
            )
        )
    return errors

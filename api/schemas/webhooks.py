"""Webhook subscriptions, messages and attempts as the API accepts and shows them.

A signing secret appears in exactly two responses: the one that creates the subscription
and the one that rotates its secret. Nothing else ever returns it.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema

from api.schemas.base import RequestModel, seed_rules
from api.schemas.fields import JsonInteger
from persistence.webhooks import AttemptView, MessageView, SubscriptionView

EventTypeName = Literal[
    "execution.completed",
    "execution.failed",
    "execution.cancelled",
    "plan.approval_requested",
    "pull_request.opened",
    "pull_request.updated",
]
MessageStatusName = Literal["pending", "delivered", "failed"]
MAX_ROTATION_GRACE = 7 * 24 * 3600


_URL_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 2000,
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$",
}


class WebhookCreate(RequestModel):
    """Subscribe an endpoint to some event types."""

    model_config = ConfigDict(
        json_schema_extra=seed_rules(
            "url",
            "event_types",
            examples=[
                {
                    "url": "https://hooks.example.com/builder",
                    "event_types": ["execution.completed", "execution.failed"],
                    "description": "release bot",
                }
            ],
        )
    )

    # required and not nullable in the document; None in Python so that one request reports
    # every broken rule with the domain's messages (seed_rules)
    url: Annotated[str | None, WithJsonSchema(_URL_SCHEMA)] = Field(
        default=None, max_length=2000, description="Absolute http(s) URL receiving POSTs"
    )
    event_types: Annotated[
        list[EventTypeName] | None,
        WithJsonSchema(
            {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "enum": list(get_args(EventTypeName))},
            }
        ),
    ] = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=255)
    active: StrictBool = True


class WebhookUpdate(RequestModel):
    """Change some fields; the secret changes only through rotation."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"active": False}, {"event_types": ["execution.failed"]}]}
    )

    url: str | None = None
    event_types: list[EventTypeName] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=255)
    active: StrictBool | None = None


class WebhookOut(BaseModel):
    """A subscription; never its secret."""

    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[EventTypeName]
    active: bool
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: SubscriptionView) -> WebhookOut:
        return cls(
            id=view.id,
            url=view.url,
            description=view.description,
            event_types=list(view.event_types),
            active=view.active,
            disabled_reason=view.disabled_reason,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class WebhookCreated(WebhookOut):
    """The new subscription and its signing secret, shown this once."""

    secret: str = Field(description="whsec_… signing secret; store it now, it is not shown again")


class SecretRotation(RequestModel):
    """Rotate the signing secret; the old one keeps signing for a while."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"previous_valid_for_seconds": 3600}]}
    )

    previous_valid_for_seconds: JsonInteger = Field(
        default=86_400,
        ge=0,
        le=MAX_ROTATION_GRACE,
        description="How long deliveries stay signed with the previous secret too",
    )


class SecretRotated(BaseModel):
    """The new secret (shown this once) and when the previous one stops signing."""

    secret: str
    previous_secrets_expire_at: datetime


class WebhookMessageOut(BaseModel):
    """One event for one subscription and how its delivery stands."""

    id: str = Field(description="The webhook-id header of every attempt (msg_…)")
    event_type: EventTypeName
    event_id: uuid.UUID
    execution_id: uuid.UUID | None
    status: MessageStatusName
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    payload: dict[str, Any]

    @classmethod
    def of(cls, view: MessageView) -> WebhookMessageOut:
        return cls(
            id=view.header_id,
            event_type=view.event_type,
            event_id=view.event_id,
            execution_id=view.execution_id,
            status=view.status.value,
            attempts=view.attempts,
            next_attempt_at=view.next_attempt_at,
            delivered_at=view.delivered_at,
            last_status_code=view.last_status_code,
            last_error=view.last_error,
            created_at=view.created_at,
            payload=json.loads(view.payload),
        )


class WebhookAttemptOut(BaseModel):
    """One delivery attempt as the dispatcher recorded it."""

    attempt: int
    started_at: datetime
    duration_ms: int | None
    outcome: Literal[
        "in_progress", "delivered", "failed", "timeout", "refused", "error", "interrupted"
    ]
    status_code: int | None
    error: str | None
    response_excerpt: str | None
    dispatcher_id: str

    @classmethod
    def of(cls, view: AttemptView) -> WebhookAttemptOut:
        return cls(
            attempt=view.attempt,
            started_at=view.started_at,
            duration_ms=view.duration_ms,
            outcome=view.outcome,
            status_code=view.status_code,
            error=view.error,
            response_excerpt=view.response_excerpt,
            dispatcher_id=view.dispatcher_id,
        )

"""Typed ORM tables of the seed's eight tables plus `api_keys` and the webhook tables.

Migrations are the schema authority; these mappings mirror them for queries. Enum columns
hold the seed's numeric (smallint) or string values.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every builder table."""

    type_annotation_map = {
        dict[str, Any]: JSONB,
        list[str]: JSONB,
        uuid.UUID: UUID(as_uuid=True),
    }


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True),
        primary_key=True,
        default=uuid.uuid4,
        server_default=func.gen_random_uuid(),
    )


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class RepositoryRow(Base):
    """A registered git repository of a tenant."""

    __tablename__ = "repositories"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    default_branch: Mapped[str] = mapped_column(String(255), nullable=False, server_default="main")
    provider: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    credential_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    state: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSONB, server_default="{}")
    last_accessed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CredentialRow(Base):
    """An encrypted credential of one repository (envelope-encrypted CredentialData)."""

    __tablename__ = "credentials"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    repository_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("repositories.id"), nullable=False)
    type: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    encrypted_data: Mapped[str] = mapped_column(Text, nullable=False)
    encryption_key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    last_validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SetupSecretRow(Base):
    """A vault-encrypted secret of one repository that only its setup phase receives, as the
    environment variable `name` (migration 000016)."""

    __tablename__ = "repository_setup_secrets"
    __table_args__ = (UniqueConstraint("repository_id", "name", name="uq_setup_secret_name"),)

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    repository_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("repositories.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    encrypted_data: Mapped[str] = mapped_column(Text, nullable=False)
    encryption_key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class FeatureExecutionRow(Base):
    """One feature execution: its request, state, plan, progress and outcome."""

    __tablename__ = "feature_executions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    repository_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("repositories.id"), nullable=False)
    correlation_id: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    target_branch: Mapped[str] = mapped_column(String(255), nullable=False)
    feature_branch: Mapped[str | None] = mapped_column(String(255))
    constraints: Mapped[dict[str, Any] | None] = mapped_column(JSONB, server_default="{}")
    state: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="1")
    sequence_cursor: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    workspace_path: Mapped[str | None] = mapped_column(Text)
    base_commit: Mapped[str | None] = mapped_column(String(64))
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSONB, server_default="{}")
    requested_by: Mapped[str | None] = mapped_column(String(255))
    # deviations (docs/architecture.md): what the engine needs and what makes POST idempotent
    workflow_id: Mapped[str | None] = mapped_column(String(512))
    engine: Mapped[str] = mapped_column(String(16), nullable=False, server_default="spec")
    changes: Mapped[list[Any] | None] = mapped_column(JSONB)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # deviation (migration 000011): the earlier execution this one continues on its branch
    continues_execution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("feature_executions.id"), nullable=True
    )
    # the existing branch this execution starts from (its remote head) and pushes to
    continues_branch: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExecutionStepRow(Base):
    """One step of an execution's plan and its outcome."""

    __tablename__ = "execution_steps"

    id: Mapped[uuid.UUID] = _uuid_pk()
    feature_execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_executions.id", ondelete="CASCADE"), nullable=False
    )
    step_index: Mapped[int] = mapped_column(Integer, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    step_type: Mapped[str] = mapped_column(String(32), nullable=False)
    target_files: Mapped[list[Any] | None] = mapped_column(JSONB, server_default="[]")
    state: Mapped[int] = mapped_column(SmallInteger, nullable=False, server_default="0")
    attempt_count: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    commit_sha: Mapped[str | None] = mapped_column(String(64))
    lines_added: Mapped[int | None] = mapped_column(Integer, server_default="0")
    lines_removed: Mapped[int | None] = mapped_column(Integer, server_default="0")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # deviations: edits persisted before they are applied, and what makes the commit repeatable
    generated_edits: Mapped[list[Any] | None] = mapped_column(JSONB)
    commit_message: Mapped[str | None] = mapped_column(Text)
    commit_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FileChangeRow(Base):
    """One file touched by one step."""

    __tablename__ = "file_changes"

    id: Mapped[uuid.UUID] = _uuid_pk()
    feature_execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_executions.id", ondelete="CASCADE"), nullable=False
    )
    execution_step_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("execution_steps.id", ondelete="CASCADE"), nullable=False
    )
    file_path: Mapped[str] = mapped_column(Text, nullable=False)
    change_type: Mapped[str] = mapped_column(String(16), nullable=False)
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    new_hash: Mapped[str | None] = mapped_column(String(64))
    lines_added: Mapped[int | None] = mapped_column(Integer, server_default="0")
    lines_removed: Mapped[int | None] = mapped_column(Integer, server_default="0")
    patch_content: Mapped[str | None] = mapped_column(Text)
    patch_artifact_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = _created()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ArtifactRow(Base):
    """A blob of an execution in the artifact store (the row holds its key and checksum)."""

    __tablename__ = "artifacts"

    id: Mapped[uuid.UUID] = _uuid_pk()
    feature_execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_executions.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    content_type: Mapped[str] = mapped_column(String(128), nullable=False)
    storage_key: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    checksum: Mapped[str | None] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExecutionEventRow(Base):
    """One event of an execution's audit log; sequence numbers are gap-free per execution."""

    __tablename__ = "execution_events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    feature_execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_executions.id", ondelete="CASCADE"), nullable=False
    )
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    sequence_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    causation_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    correlation_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    payload_schema: Mapped[str] = mapped_column(String(32), nullable=False)
    producer_id: Mapped[str] = mapped_column(String(255), nullable=False)
    tags: Mapped[dict[str, Any] | None] = mapped_column(JSONB, server_default="{}")
    created_at: Mapped[datetime] = _created()


class DistributedLockRow(Base):
    """A lease on a key (repository + feature branch) with a fencing token."""

    __tablename__ = "distributed_locks"

    lock_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(255), nullable=False)
    feature_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_executions.id", ondelete="CASCADE"), nullable=False
    )
    acquired_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    fencing_token: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ApiKeyRow(Base):
    """An API key of a tenant; only its SHA-256 hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    key_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = _created()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSubscriptionRow(Base):
    """A tenant's webhook endpoint and the event types it receives."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    url: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSecretRow(Base):
    """A signing secret of a subscription, vault-encrypted; expired ones stop signing."""

    __tablename__ = "webhook_secrets"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    encrypted_data: Mapped[str] = mapped_column(Text, nullable=False)
    encryption_key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookMessageRow(Base):
    """One event for one subscription: the outbox row the dispatcher delivers."""

    __tablename__ = "webhook_messages"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    feature_execution_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    budget_start: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _updated()


class WebhookAttemptRow(Base):
    """One delivery attempt of a message, as the dispatcher saw it."""

    __tablename__ = "webhook_attempts"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_messages.id", ondelete="CASCADE"), nullable=False
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    dispatcher_id: Mapped[str] = mapped_column(String(255), nullable=False)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)


class AgentTurnRow(Base):
    """One turn of an agent conversation: the model's response, stored before its tool calls
    run, then their outcomes and the files they changed, stored before the next model call."""

    __tablename__ = "agent_turns"

    id: Mapped[uuid.UUID] = _uuid_pk()
    tenant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    feature_execution_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_executions.id", ondelete="CASCADE"), nullable=False
    )
    step_index: Mapped[int] = mapped_column(Integer, nullable=False)
    turn_index: Mapped[int] = mapped_column(Integer, nullable=False)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    outcomes: Mapped[list[Any] | None] = mapped_column(JSONB)
    changes: Mapped[list[Any] | None] = mapped_column(JSONB)
    model_seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = _created()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

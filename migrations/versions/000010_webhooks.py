"""Outbound webhooks: subscriptions, their encrypted signing secrets, the outbox of messages
and every delivery attempt (see docs/webhooks.md; deviations in docs/architecture.md).

Revision ID: 000010
Revises: 000009
"""

from alembic import op

revision = "000010"
down_revision = "000009"
branch_labels = None
depends_on = None

UPGRADE = [
    """CREATE TABLE webhook_subscriptions (
         id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
         tenant_id UUID NOT NULL,
         url TEXT NOT NULL,
         description VARCHAR(255),
         event_types TEXT[] NOT NULL,
         active BOOLEAN NOT NULL DEFAULT true,
         disabled_reason TEXT,
         created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         deleted_at TIMESTAMPTZ
       )""",
    "CREATE INDEX idx_webhook_sub_tenant ON webhook_subscriptions(tenant_id, created_at)",
    # what the outbox insert of an event append reads: the tenant's live subscriptions
    """CREATE INDEX idx_webhook_sub_live ON webhook_subscriptions(tenant_id)
       WHERE active AND deleted_at IS NULL""",
    """CREATE TABLE webhook_secrets (
         id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
         tenant_id UUID NOT NULL,
         subscription_id UUID NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
         encrypted_data TEXT NOT NULL,
         encryption_key_id VARCHAR(64) NOT NULL,
         created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         expires_at TIMESTAMPTZ
       )""",
    "CREATE INDEX idx_webhook_secret_sub ON webhook_secrets(subscription_id)",
    "CREATE INDEX idx_webhook_secret_key ON webhook_secrets(encryption_key_id)",
    """CREATE TABLE webhook_messages (
         id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
         tenant_id UUID NOT NULL,
         subscription_id UUID NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
         event_id UUID NOT NULL,
         event_type VARCHAR(64) NOT NULL,
         feature_execution_id UUID,
         payload BYTEA NOT NULL,
         status VARCHAR(16) NOT NULL DEFAULT 'pending',
         attempts INT NOT NULL DEFAULT 0,
         budget_start INT NOT NULL DEFAULT 0,
         next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         claimed_by VARCHAR(255),
         last_status_code INT,
         last_error TEXT,
         delivered_at TIMESTAMPTZ,
         created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
       )""",
    # one message per subscription and event: a re-appended event enqueues nothing twice
    "CREATE UNIQUE INDEX idx_webhook_msg_event ON webhook_messages(subscription_id, event_id)",
    """CREATE INDEX idx_webhook_msg_due ON webhook_messages(next_attempt_at)
       WHERE status = 'pending'""",
    """CREATE INDEX idx_webhook_msg_sub
       ON webhook_messages(tenant_id, subscription_id, created_at DESC)""",
    """CREATE TABLE webhook_attempts (
         id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
         tenant_id UUID NOT NULL,
         message_id UUID NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
         attempt INT NOT NULL,
         dispatcher_id VARCHAR(255) NOT NULL,
         started_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         duration_ms INT,
         outcome VARCHAR(16) NOT NULL,
         status_code INT,
         error TEXT,
         response_excerpt TEXT
       )""",
    "CREATE UNIQUE INDEX idx_webhook_attempt ON webhook_attempts(message_id, attempt)",
]

DOWNGRADE = [
    "DROP TABLE IF EXISTS webhook_attempts",
    "DROP TABLE IF EXISTS webhook_messages",
    "DROP TABLE IF EXISTS webhook_secrets",
    "DROP TABLE IF EXISTS webhook_subscriptions",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

"""Seed migration 000007: create execution events (mirrors the seed's SQL exactly).

Revision ID: 000007
Revises: 000006
"""

from alembic import op

revision = "000007"
down_revision = "000006"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS execution_events (
    id UUID PRIMARY KEY,
    feature_execution_id UUID NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    sequence_number BIGINT NOT NULL,
    timestamp TIMESTAMPTZ NOT NULL,
    causation_id UUID,
    correlation_id UUID,
    payload BYTEA NOT NULL,
    payload_schema VARCHAR(32) NOT NULL,
    producer_id VARCHAR(255) NOT NULL,
    tags JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT fk_event_feature FOREIGN KEY (feature_execution_id) REFERENCES feature_executions(id) ON DELETE CASCADE
)""",
    """CREATE INDEX idx_event_feature_seq ON execution_events(feature_execution_id, sequence_number)""",
    """CREATE INDEX idx_event_type ON execution_events(event_type)""",
    """CREATE INDEX idx_event_timestamp ON execution_events(timestamp DESC)""",
    """CREATE INDEX idx_event_correlation ON execution_events(correlation_id)""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS execution_events CASCADE")

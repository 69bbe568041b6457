"""Seed migration 000006: create artifacts (mirrors the seed's SQL exactly).

Revision ID: 000006
Revises: 000005
"""

from alembic import op

revision = "000006"
down_revision = "000005"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS artifacts (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    feature_execution_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    type VARCHAR(32) NOT NULL,
    content_type VARCHAR(128) NOT NULL,
    storage_key TEXT NOT NULL,
    size BIGINT NOT NULL DEFAULT 0,
    checksum VARCHAR(64),
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ,
    CONSTRAINT fk_artifact_feature FOREIGN KEY (feature_execution_id) REFERENCES feature_executions(id) ON DELETE CASCADE
)""",
    """CREATE INDEX idx_artifact_feature ON artifacts(feature_execution_id)""",
    """CREATE INDEX idx_artifact_type ON artifacts(type)""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS artifacts CASCADE")

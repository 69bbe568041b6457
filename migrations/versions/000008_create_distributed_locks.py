"""Seed migration 000008: create distributed locks (mirrors the seed's SQL exactly).

Revision ID: 000008
Revises: 000007
"""

from alembic import op

revision = "000008"
down_revision = "000007"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS distributed_locks (
    lock_key VARCHAR(255) PRIMARY KEY,
    owner_id VARCHAR(255) NOT NULL,
    feature_id UUID NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT fk_lock_feature FOREIGN KEY (feature_id) REFERENCES feature_executions(id) ON DELETE CASCADE
)""",
    """CREATE INDEX idx_lock_expires ON distributed_locks(expires_at)""",
    """CREATE INDEX idx_lock_feature ON distributed_locks(feature_id)""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS distributed_locks CASCADE")

"""Seed migration 000004: create execution steps (mirrors the seed's SQL exactly).

Revision ID: 000004
Revises: 000003
"""

from alembic import op

revision = "000004"
down_revision = "000003"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS execution_steps (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    feature_execution_id UUID NOT NULL,
    step_index INT NOT NULL,
    description TEXT NOT NULL,
    step_type VARCHAR(32) NOT NULL,
    target_files JSONB DEFAULT '[]',
    state SMALLINT NOT NULL DEFAULT 0,
    attempt_count INT NOT NULL DEFAULT 0,
    commit_sha VARCHAR(64),
    lines_added INT DEFAULT 0,
    lines_removed INT DEFAULT 0,
    error JSONB,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    CONSTRAINT fk_step_feature FOREIGN KEY (feature_execution_id) REFERENCES feature_executions(id) ON DELETE CASCADE
)""",
    """CREATE INDEX idx_step_feature ON execution_steps(feature_execution_id)""",
    """CREATE UNIQUE INDEX idx_step_feature_index ON execution_steps(feature_execution_id, step_index) WHERE deleted_at IS NULL""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS execution_steps CASCADE")

"""Seed migration 000005: create file changes (mirrors the seed's SQL exactly).

Revision ID: 000005
Revises: 000004
"""

from alembic import op

revision = "000005"
down_revision = "000004"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS file_changes (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    feature_execution_id UUID NOT NULL,
    execution_step_id UUID NOT NULL,
    file_path TEXT NOT NULL,
    change_type VARCHAR(16) NOT NULL,
    previous_hash VARCHAR(64),
    new_hash VARCHAR(64),
    lines_added INT DEFAULT 0,
    lines_removed INT DEFAULT 0,
    patch_content TEXT,
    patch_artifact_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    CONSTRAINT fk_change_feature FOREIGN KEY (feature_execution_id) REFERENCES feature_executions(id) ON DELETE CASCADE,
    CONSTRAINT fk_change_step FOREIGN KEY (execution_step_id) REFERENCES execution_steps(id) ON DELETE CASCADE
)""",
    """CREATE INDEX idx_filechange_feature ON file_changes(feature_execution_id)""",
    """CREATE INDEX idx_filechange_step ON file_changes(execution_step_id)""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS file_changes CASCADE")

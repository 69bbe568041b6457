"""Seed migration 000003: create feature executions (mirrors the seed's SQL exactly).

Revision ID: 000003
Revises: 000002
"""

from alembic import op

revision = "000003"
down_revision = "000002"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS feature_executions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    repository_id UUID NOT NULL,
    correlation_id VARCHAR(255),
    idempotency_key VARCHAR(255),
    title VARCHAR(255) NOT NULL,
    description TEXT NOT NULL,
    target_branch VARCHAR(255) NOT NULL,
    feature_branch VARCHAR(255),
    constraints JSONB DEFAULT '{}',
    state SMALLINT NOT NULL DEFAULT 1,
    sequence_cursor BIGINT NOT NULL DEFAULT 0,
    plan JSONB,
    progress JSONB,
    error JSONB,
    result JSONB,
    workspace_path TEXT,
    base_commit VARCHAR(64),
    properties JSONB DEFAULT '{}',
    requested_by VARCHAR(255),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    completed_at TIMESTAMPTZ,
    deleted_at TIMESTAMPTZ,
    CONSTRAINT fk_feature_repo FOREIGN KEY (repository_id) REFERENCES repositories(id)
)""",
    """CREATE INDEX idx_feature_tenant ON feature_executions(tenant_id)""",
    """CREATE INDEX idx_feature_repo ON feature_executions(repository_id)""",
    """CREATE INDEX idx_feature_state ON feature_executions(state)""",
    """CREATE INDEX idx_feature_correlation ON feature_executions(correlation_id)""",
    """CREATE INDEX idx_feature_created ON feature_executions(created_at DESC)""",
    """CREATE UNIQUE INDEX idx_feature_idempotency ON feature_executions(idempotency_key) WHERE idempotency_key IS NOT NULL AND deleted_at IS NULL""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS feature_executions CASCADE")

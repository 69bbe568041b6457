"""Seed migration 000001: create repositories (mirrors the seed's SQL exactly).

Revision ID: 000001
Revises: None
"""

from alembic import op

revision = "000001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS repositories (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    name VARCHAR(255) NOT NULL,
    url TEXT NOT NULL,
    default_branch VARCHAR(255) NOT NULL DEFAULT 'main',
    provider SMALLINT NOT NULL DEFAULT 0,
    credential_id UUID,
    state SMALLINT NOT NULL DEFAULT 1,
    properties JSONB DEFAULT '{}',
    last_accessed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ
)""",
    """CREATE INDEX idx_repo_tenant ON repositories(tenant_id)""",
    """CREATE UNIQUE INDEX idx_repo_tenant_name ON repositories(tenant_id, name) WHERE deleted_at IS NULL""",
    """CREATE INDEX idx_repo_deleted ON repositories(deleted_at)""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS repositories CASCADE")

"""Seed migration 000002: create credentials (mirrors the seed's SQL exactly).

Revision ID: 000002
Revises: 000001
"""

from alembic import op

revision = "000002"
down_revision = "000001"
branch_labels = None
depends_on = None

STATEMENTS = [
    """CREATE TABLE IF NOT EXISTS credentials (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id UUID NOT NULL,
    repository_id UUID NOT NULL,
    type SMALLINT NOT NULL,
    encrypted_data TEXT NOT NULL,
    encryption_key_id VARCHAR(64) NOT NULL,
    last_validated_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    CONSTRAINT fk_credential_repo FOREIGN KEY (repository_id) REFERENCES repositories(id)
)""",
    """CREATE INDEX idx_cred_tenant ON credentials(tenant_id)""",
    """CREATE UNIQUE INDEX idx_cred_repo ON credentials(repository_id) WHERE deleted_at IS NULL""",
]


def upgrade() -> None:
    for statement in STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS credentials CASCADE")

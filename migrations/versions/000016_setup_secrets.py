"""Setup-only secrets: vault-encrypted values a repository's setup phase receives as
environment variables, and nothing else does (see docs/environments.md).

Revision ID: 000016
Revises: 000015
"""

from alembic import op

revision = "000016"
down_revision = "000015"
branch_labels = None
depends_on = None

UPGRADE = [
    """CREATE TABLE repository_setup_secrets (
         id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
         tenant_id UUID NOT NULL,
         repository_id UUID NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
         name VARCHAR(100) NOT NULL,
         encrypted_data TEXT NOT NULL,
         encryption_key_id VARCHAR(64) NOT NULL,
         created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         CONSTRAINT uq_setup_secret_name UNIQUE (repository_id, name)
       )""",
    "CREATE INDEX idx_setup_secret_key ON repository_setup_secrets(encryption_key_id)",
]

DOWNGRADE = ["DROP TABLE IF EXISTS repository_setup_secrets"]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

"""Follow-up executions: an execution may continue an earlier one on the same branch
(deviation in docs/architecture.md).

Revision ID: 000011
Revises: 000010
"""

from alembic import op

revision = "000011"
down_revision = "000010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE feature_executions ADD COLUMN continues_execution_id UUID "
        "REFERENCES feature_executions(id)"
    )
    # the existing branch the execution starts from (its remote head) and pushes to
    op.execute("ALTER TABLE feature_executions ADD COLUMN continues_branch VARCHAR(255)")
    # the follow-ups of an execution, and whether an execution is one (the branch they share
    # is found through the feature branch index)
    op.execute(
        "CREATE INDEX idx_feature_continues ON feature_executions(continues_execution_id) "
        "WHERE continues_execution_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS idx_feature_continues")
    op.execute("ALTER TABLE feature_executions DROP COLUMN IF EXISTS continues_branch")
    op.execute("ALTER TABLE feature_executions DROP COLUMN IF EXISTS continues_execution_id")

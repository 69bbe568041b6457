"""Per-tenant concurrency limit: the tenants' overrides and the admission queue.

`tenant_execution_limits` holds an operator's override of the deployment default
(BUILDER_TENANT_MAX_CONCURRENT_EXECUTIONS); a NULL limit means unlimited for that tenant.
`execution_admissions` is the FIFO queue: one row per execution that asked for a slot,
ordered by `queue_seq`; a row with `admitted_at` holds a slot until its execution reaches a
terminal state (or `released_at` is set), so no worker's memory can leak a slot.

Revision ID: 000014
Revises: 000013
"""

from alembic import op

revision = "000014"
down_revision = "000013"
branch_labels = None
depends_on = None

UPGRADE = [
    """CREATE TABLE tenant_execution_limits (
         tenant_id UUID PRIMARY KEY,
         max_concurrent_executions INT CHECK (max_concurrent_executions > 0),
         updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
       )""",
    """CREATE TABLE execution_admissions (
         feature_execution_id UUID PRIMARY KEY
           REFERENCES feature_executions(id) ON DELETE CASCADE,
         tenant_id UUID NOT NULL,
         queue_seq BIGINT GENERATED ALWAYS AS IDENTITY,
         enqueued_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         polled_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         admitted_at TIMESTAMPTZ,
         released_at TIMESTAMPTZ
       )""",
    # what every admission attempt reads: the tenant's live rows in queue order
    """CREATE INDEX idx_admission_tenant_live ON execution_admissions(tenant_id, queue_seq)
       WHERE released_at IS NULL""",
]

DOWNGRADE = [
    "DROP TABLE IF EXISTS execution_admissions",
    "DROP TABLE IF EXISTS tenant_execution_limits",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

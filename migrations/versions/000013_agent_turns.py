"""Agent turns: each model response of an `agent` engine conversation, stored before its
tool calls run, and their outcomes and file changes, stored before the next model call.

Revision ID: 000013
Revises: 000011
"""

from alembic import op

revision = "000013"
down_revision = "000011"
branch_labels = None
depends_on = None

UPGRADE = [
    """CREATE TABLE agent_turns (
         id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
         tenant_id UUID NOT NULL,
         feature_execution_id UUID NOT NULL
           REFERENCES feature_executions(id) ON DELETE CASCADE,
         step_index INT NOT NULL,
         turn_index INT NOT NULL,
         response JSONB NOT NULL,
         outcomes JSONB,
         changes JSONB,
         model_seconds DOUBLE PRECISION,
         created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         completed_at TIMESTAMPTZ
       )""",
    # one row per turn: a retried turn finds its stored response instead of asking again
    """CREATE UNIQUE INDEX idx_agent_turns_turn
       ON agent_turns(feature_execution_id, step_index, turn_index)""",
]

DOWNGRADE = ["DROP TABLE IF EXISTS agent_turns"]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

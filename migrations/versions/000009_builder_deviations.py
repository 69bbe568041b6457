"""builder's deviations from the seed (each one explained in docs/architecture.md).

Revision ID: 000009
Revises: 000008
"""

from alembic import op

revision = "000009"
down_revision = "000008"
branch_labels = None
depends_on = None

UPGRADE = [
    # idempotency keys are unique per tenant, not globally (same index name as the seed)
    "DROP INDEX IF EXISTS idx_feature_idempotency",
    """CREATE UNIQUE INDEX idx_feature_idempotency ON feature_executions(tenant_id, idempotency_key)
       WHERE idempotency_key IS NOT NULL AND deleted_at IS NULL""",
    "ALTER TABLE feature_executions ADD COLUMN workflow_id VARCHAR(512)",
    "ALTER TABLE feature_executions ADD COLUMN engine VARCHAR(16) NOT NULL DEFAULT 'spec'",
    "ALTER TABLE feature_executions ADD COLUMN changes JSONB",
    "ALTER TABLE feature_executions ADD COLUMN request_fingerprint VARCHAR(64)",
    # the event sequence is duplicate-free by construction; the unique index proves it
    "DROP INDEX IF EXISTS idx_event_feature_seq",
    """CREATE UNIQUE INDEX idx_event_feature_seq
       ON execution_events(feature_execution_id, sequence_number)""",
    # wake SSE streams on every appended event
    """CREATE OR REPLACE FUNCTION builder_notify_event() RETURNS trigger AS $$
       BEGIN
         PERFORM pg_notify('builder_events',
                           NEW.feature_execution_id::text || ':' || NEW.sequence_number::text);
         RETURN NEW;
       END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER trg_execution_events_notify AFTER INSERT ON execution_events
       FOR EACH ROW EXECUTE FUNCTION builder_notify_event()""",
    # fencing tokens grow on every acquire
    "CREATE SEQUENCE distributed_lock_fencing_seq",
    "ALTER TABLE distributed_locks ADD COLUMN fencing_token BIGINT NOT NULL DEFAULT 0",
    # retried activities upsert on natural keys
    """CREATE UNIQUE INDEX idx_filechange_step_path ON file_changes(execution_step_id, file_path)
       WHERE deleted_at IS NULL""",
    """CREATE UNIQUE INDEX idx_artifact_feature_name ON artifacts(feature_execution_id, name)
       WHERE deleted_at IS NULL""",
    "CREATE INDEX idx_artifact_expires ON artifacts(expires_at) WHERE expires_at IS NOT NULL",
    # edits are stored before they are applied; message and timestamp make the commit repeatable
    "ALTER TABLE execution_steps ADD COLUMN generated_edits JSONB",
    "ALTER TABLE execution_steps ADD COLUMN commit_message TEXT",
    "ALTER TABLE execution_steps ADD COLUMN commit_timestamp BIGINT",
    # the API must know which tenant is calling
    """CREATE TABLE api_keys (
         id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
         tenant_id UUID NOT NULL,
         name VARCHAR(255) NOT NULL,
         key_prefix VARCHAR(16) NOT NULL,
         key_hash VARCHAR(64) NOT NULL,
         created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
         last_used_at TIMESTAMPTZ,
         revoked_at TIMESTAMPTZ
       )""",
    "CREATE UNIQUE INDEX idx_api_key_hash ON api_keys(key_hash)",
    "CREATE INDEX idx_api_key_tenant ON api_keys(tenant_id)",
]

DOWNGRADE = [
    "DROP TABLE IF EXISTS api_keys",
    "ALTER TABLE execution_steps DROP COLUMN IF EXISTS commit_timestamp",
    "ALTER TABLE execution_steps DROP COLUMN IF EXISTS commit_message",
    "ALTER TABLE execution_steps DROP COLUMN IF EXISTS generated_edits",
    "DROP INDEX IF EXISTS idx_artifact_expires",
    "DROP INDEX IF EXISTS idx_artifact_feature_name",
    "DROP INDEX IF EXISTS idx_filechange_step_path",
    "ALTER TABLE distributed_locks DROP COLUMN IF EXISTS fencing_token",
    "DROP SEQUENCE IF EXISTS distributed_lock_fencing_seq",
    "DROP TRIGGER IF EXISTS trg_execution_events_notify ON execution_events",
    "DROP FUNCTION IF EXISTS builder_notify_event()",
    "DROP INDEX IF EXISTS idx_event_feature_seq",
    """CREATE INDEX idx_event_feature_seq
       ON execution_events(feature_execution_id, sequence_number)""",
    "ALTER TABLE feature_executions DROP COLUMN IF EXISTS request_fingerprint",
    "ALTER TABLE feature_executions DROP COLUMN IF EXISTS changes",
    "ALTER TABLE feature_executions DROP COLUMN IF EXISTS engine",
    "ALTER TABLE feature_executions DROP COLUMN IF EXISTS workflow_id",
    "DROP INDEX IF EXISTS idx_feature_idempotency",
    """CREATE UNIQUE INDEX idx_feature_idempotency ON feature_executions(idempotency_key)
       WHERE idempotency_key IS NOT NULL AND deleted_at IS NULL""",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)

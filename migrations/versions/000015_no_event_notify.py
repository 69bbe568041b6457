"""Events no longer NOTIFY: SSE streams poll the cursors of the executions they watch.

A NOTIFY holds a database-wide lock from its transaction's pre-commit until the commit is
flushed, which serialised every event-writing transaction (api/event_notifier.py explains
the replacement; docs/performance.md has the numbers).

Revision ID: 000015
Revises: 000014
"""

from alembic import op

revision = "000015"
down_revision = "000014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS trg_execution_events_notify ON execution_events")
    op.execute("DROP FUNCTION IF EXISTS builder_notify_event()")


def downgrade() -> None:
    op.execute(
        """CREATE OR REPLACE FUNCTION builder_notify_event() RETURNS trigger AS $$
           BEGIN
             PERFORM pg_notify('builder_events',
                               NEW.feature_execution_id::text || ':' || NEW.sequence_number::text);
             RETURN NEW;
           END $$ LANGUAGE plpgsql"""
    )
    op.execute(
        """CREATE TRIGGER trg_execution_events_notify AFTER INSERT ON execution_events
           FOR EACH ROW EXECUTE FUNCTION builder_notify_event()"""
    )

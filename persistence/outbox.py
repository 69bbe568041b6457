"""The SQL that turns an appended event into webhook outbox messages.

Used as one more CTE of the event-append statement (persistence/events.py), reading that
statement's `inserted` rows: one message per live subscription of the execution's tenant
that asked for the event type. The body is frozen here, so every attempt sends the same
bytes: `{"type", "timestamp", "data"}` as the Standard Webhooks payload structure suggests,
with the event's payload plus the execution's ids in `data`.
"""

from __future__ import annotations

# what the append's `inserted` CTE must return for the outbox to read it
OUTBOX_RETURNING = "id, sequence_number, event_type, timestamp, payload"

_OUTBOX = """outbox AS (
    INSERT INTO webhook_messages (
        tenant_id, subscription_id, event_id, event_type, feature_execution_id, payload)
    SELECT s.tenant_id, s.id, i.id, i.event_type, fe.id,
           convert_to(jsonb_build_object(
               'type', i.event_type,
               'timestamp', to_char(i.timestamp AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', convert_from(i.payload, 'UTF8')::jsonb || jsonb_build_object(
                   'event_id', i.id,
                   'sequence_number', i.sequence_number,
                   'execution_id', fe.id,
                   'repository_id', fe.repository_id,
                   'title', fe.title,
                   'target_branch', fe.target_branch,
                   'feature_branch', fe.feature_branch,
                   'correlation_id', fe.correlation_id,
                   'requested_by', fe.requested_by)
           )::text, 'UTF8')
    FROM inserted i
    JOIN feature_executions fe ON fe.id = {execution}
    JOIN webhook_subscriptions s
      ON s.tenant_id = fe.tenant_id AND s.active AND s.deleted_at IS NULL
     AND i.event_type = ANY(s.event_types)
    ON CONFLICT (subscription_id, event_id) DO NOTHING
)"""


def outbox_cte(execution: str) -> str:
    """The outbox CTE, with `execution` the SQL expression of the stream's execution id."""
    return _OUTBOX.format(execution=execution)

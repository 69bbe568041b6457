"""Event types of the execution audit log and the payload schema version they use."""

from __future__ import annotations

from enum import StrEnum

PAYLOAD_SCHEMA = "builder.event.v1"


class EventType(StrEnum):
    """Every event type an execution's stream can hold."""

    EXECUTION_CREATED = "execution.created"
    STATE_CHANGED = "execution.state_changed"
    LOCK_ACQUIRED = "lock.acquired"
    LOCK_RELEASED = "lock.released"
    WORKSPACE_READY = "workspace.ready"
    ANALYSIS_COMPLETED = "analysis.completed"
    PLAN_CREATED = "plan.created"
    PLAN_APPROVAL_REQUESTED = "plan.approval_requested"
    PLAN_APPROVED = "plan.approved"
    PLAN_REJECTED = "plan.rejected"
    STEP_STARTED = "step.started"
    STEP_COMPLETED = "step.completed"
    STEP_FAILED = "step.failed"
    FILE_CHANGED = "file.changed"
    SETUP_SKIPPED = "setup.skipped"
    BUILD_COMPLETED = "build.completed"
    TEST_COMPLETED = "test.completed"
    PUSH_COMPLETED = "push.completed"
    PULL_REQUEST_OPENED = "pull_request.opened"
    PULL_REQUEST_UPDATED = "pull_request.updated"
    LLM_USAGE = "llm.usage"
    AGENT_TURN = "agent.turn"
    CANCEL_REQUESTED = "execution.cancel_requested"
    EXECUTION_COMPLETED = "execution.completed"
    EXECUTION_FAILED = "execution.failed"
    EXECUTION_CANCELLED = "execution.cancelled"

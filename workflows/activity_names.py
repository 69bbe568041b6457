"""Names of the pipeline's activities: the workflow calls them by name so it never imports
the activity modules (and their pygit2/SQLAlchemy dependencies) into its sandbox."""

from __future__ import annotations

from enum import StrEnum


class Activity(StrEnum):
    RECORD_STATE = "record_state"
    RECORD_EVENT = "record_event"
    ACQUIRE_LOCK = "acquire_lock"
    REFRESH_LOCK = "refresh_lock"
    RELEASE_LOCK = "release_lock"
    OPEN_WORKSPACE = "open_workspace"
    ANALYZE = "analyze"
    PLAN = "plan"
    GENERATE_STEP = "generate_step"
    APPLY_STEP = "apply_step"
    ADD_REPAIR_STEP = "add_repair_step"
    VERIFY = "verify"
    PUSH = "push"
    CLEANUP = "cleanup"

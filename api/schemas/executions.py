"""Feature executions, their steps, file changes, artifacts and events as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from api.schemas.base import RequestModel, seed_rules
from api.schemas.fields import (
    IDEMPOTENCY_KEY_PATTERN,
    NUL_FREE_JSON,
    BranchName,
    FreeProperties,
)
from api.schemas.repositories import PULL_REQUEST_SCHEMA
from api.schemas.text import NUL_FREE
from domain.changes import DeclaredChange
from domain.enums import FeatureState, StepState
from domain.values import (
    DeliveryResult,
    ExecutionError,
    ExecutionPlan,
    ExecutionProgress,
    FeatureConstraints,
    StrictFeatureConstraints,
)
from persistence.events import StoredEvent
from persistence.tables import (
    ArtifactRow,
    ExecutionStepRow,
    FeatureExecutionRow,
    FileChangeRow,
)

StateLabel = Literal[
    "unspecified",
    "pending",
    "analyzing",
    "planning",
    "executing",
    "verifying",
    "completed",
    "failed",
    "cancelled",
]
EngineName = Literal["spec", "llm", "agent"]


SPEC_EXAMPLE: dict[str, Any] = {
    "repository_id": "0d0d0d0d-0000-4000-8000-0000000000bb",
    "title": "Add a hello page",
    "description": "Adds docs/hello.md with a greeting for new contributors.",
    "target_branch": "main",
    "engine": "spec",
    "changes": [{"op": "write_file", "path": "docs/hello.md", "content": "hello\n"}],
    "requested_by": "alice",
}


# free-form, but `pull_request` (the repository's default overridden) has its shape
ExecutionProperties = Annotated[
    FreeProperties,
    WithJsonSchema(
        {
            "type": "object",
            "description": "Free-form metadata kept with the execution; `pull_request` "
            "overrides the repository's pull request setting key by key",
            "propertyNames": {"pattern": NUL_FREE},
            "properties": {
                "pull_request": PULL_REQUEST_SCHEMA,
                "address_review": {
                    "type": "boolean",
                    "description": "a follow-up with the llm engine takes the unresolved "
                    "review comments of the branch's pull request as its request",
                },
            },
            "additionalProperties": {"$ref": NUL_FREE_JSON},
        }
    ),
]


def engine_name(value: str) -> EngineName:
    """A stored engine column as the API names it (unknown values read as spec)."""
    return "llm" if value == "llm" else "agent" if value == "agent" else "spec"


class ExecutionCreate(RequestModel):
    """A feature request. Seed rules apply to title, description and target_branch."""

    model_config = ConfigDict(
        json_schema_extra=seed_rules(
            "repository_id", "title", "description", examples=[SPEC_EXAMPLE]
        )
    )

    repository_id: Annotated[
        uuid.UUID | None, WithJsonSchema({"type": "string", "format": "uuid"})
    ] = Field(default=None, description="Id of a registered repository")
    title: Annotated[
        str | None, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255})
    ] = None
    description: Annotated[str | None, WithJsonSchema({"type": "string", "minLength": 10})] = Field(
        default=None, description="What the change should do"
    )
    target_branch: BranchName | None = Field(
        default=None, description="Defaults to the repository's default branch"
    )
    constraints: StrictFeatureConstraints = Field(default_factory=StrictFeatureConstraints)
    properties: ExecutionProperties = Field(default_factory=dict)
    engine: Annotated[EngineName, WithJsonSchema({"type": "string", "x-builder-engines": True})] = (
        Field(default="spec", description="Change engine; the spec engine needs `changes`")
    )
    changes: list[DeclaredChange] = Field(
        default_factory=list, description="Declared operations (required by the spec engine)"
    )
    requested_by: str | None = Field(default=None, max_length=255)
    correlation_id: str | None = Field(default=None, max_length=255)
    continue_from: Annotated[
        uuid.UUID | None, WithJsonSchema({"type": "string", "format": "uuid"})
    ] = Field(
        default=None,
        description="A follow-up: an earlier execution of the same repository whose pushed "
        "branch this one continues (from the branch's current remote head, fast-forward "
        "only, commenting on its pull request)",
    )
    continue_branch: BranchName | None = Field(
        default=None,
        description="A follow-up on an existing branch of the repository (the branch of "
        "continue_from when both are given)",
    )
    idempotency_key: str | None = Field(
        default=None,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Used when no Idempotency-Key header is sent (the same value if both)",
    )


class ExecutionOut(BaseModel):
    """One feature execution: request, state, progress, plan and outcome."""

    id: uuid.UUID
    idempotency_key: str | None
    workflow_id: str | None
    repository_id: uuid.UUID
    title: str
    description: str
    target_branch: str
    feature_branch: str | None
    engine: EngineName
    state: StateLabel
    constraints: FeatureConstraints
    properties: dict[str, Any]
    progress: ExecutionProgress | None
    plan: ExecutionPlan | None
    result: DeliveryResult | None
    error: ExecutionError | None
    base_commit: str | None
    requested_by: str | None
    correlation_id: str | None
    # a follow-up: the execution it continues and the branch it started from
    continue_from: uuid.UUID | None = None
    continue_branch: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    queue_position: int | None = Field(
        default=None,
        ge=1,
        description="While the execution waits in `pending` for one of its tenant's "
        "execution slots (the per-tenant concurrency limit): its place in the tenant's "
        "FIFO queue, 1 being next; null otherwise",
        examples=[1],
    )

    @classmethod
    def of(cls, row: FeatureExecutionRow, queue_position: int | None = None) -> ExecutionOut:
        return cls(
            id=row.id,
            idempotency_key=row.idempotency_key,
            workflow_id=row.workflow_id,
            repository_id=row.repository_id,
            title=row.title,
            description=row.description,
            target_branch=row.target_branch,
            feature_branch=row.feature_branch,
            engine=engine_name(row.engine),
            state=FeatureState(row.state).label,
            constraints=FeatureConstraints.model_validate(row.constraints or {}),
            properties=row.properties or {},
            progress=ExecutionProgress.model_validate(row.progress) if row.progress else None,
            plan=ExecutionPlan.model_validate(row.plan) if row.plan else None,
            result=DeliveryResult.model_validate(row.result) if row.result else None,
            error=ExecutionError.model_validate(row.error) if row.error else None,
            base_commit=row.base_commit,
            requested_by=row.requested_by,
            correlation_id=row.correlation_id,
            continue_from=row.continues_execution_id,
            continue_branch=row.continues_branch,
            created_at=row.created_at,
            updated_at=row.updated_at,
            completed_at=row.completed_at,
            queue_position=queue_position,
        )


class CancelBody(RequestModel):
    """Why the execution is cancelled."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "wrong repository"}]})
    reason: str | None = Field(default=None, max_length=1000)


class PlanDecisionBody(RequestModel):
    """Who decided on the plan, and why."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "the steps look right", "by": "alice"}]}
    )
    reason: str | None = Field(default=None, max_length=1000)
    by: str | None = Field(default=None, max_length=255)


class PlanDecisionOut(BaseModel):
    """What the workflow made of the decision."""

    execution_id: uuid.UUID
    decision: Literal["approved", "rejected"]


class StepOut(BaseModel):
    """One step of the plan and its outcome."""

    id: uuid.UUID
    index: int
    description: str
    type: str
    target_files: list[str]
    state: Literal["pending", "running", "completed", "failed", "skipped"]
    attempt_count: int
    commit_sha: str | None
    lines_added: int
    lines_removed: int
    error: dict[str, Any] | None
    started_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, row: ExecutionStepRow) -> StepOut:
        return cls(
            id=row.id,
            index=row.step_index,
            description=row.description,
            type=row.step_type,
            target_files=[str(f) for f in row.target_files or []],
            state=StepState(row.state).label,
            attempt_count=row.attempt_count,
            commit_sha=row.commit_sha,
            lines_added=row.lines_added or 0,
            lines_removed=row.lines_removed or 0,
            error=row.error,
            started_at=row.started_at,
            completed_at=row.completed_at,
        )


class FileChangeOut(BaseModel):
    """One file a step changed; the patch is inline or behind `patch_url`."""

    id: uuid.UUID
    step_id: uuid.UUID
    file_path: str
    change_type: str
    previous_hash: str | None
    new_hash: str | None
    lines_added: int
    lines_removed: int
    patch: str | None
    patch_url: str | None

    @classmethod
    def of(cls, row: FileChangeRow) -> FileChangeOut:
        link = None
        if row.patch_artifact_id is not None:
            link = (
                f"/v1/executions/{row.feature_execution_id}/artifacts/"
                f"{row.patch_artifact_id}/content"
            )
        return cls(
            id=row.id,
            step_id=row.execution_step_id,
            file_path=row.file_path,
            change_type=row.change_type,
            previous_hash=row.previous_hash,
            new_hash=row.new_hash,
            lines_added=row.lines_added or 0,
            lines_removed=row.lines_removed or 0,
            patch=row.patch_content,
            patch_url=link,
        )


class ArtifactOut(BaseModel):
    """A stored blob of the execution; download it from `content_url`."""

    id: uuid.UUID
    name: str
    type: str
    content_type: str
    size: int
    checksum: str | None
    created_at: datetime
    expires_at: datetime | None
    content_url: str

    @classmethod
    def of(cls, row: ArtifactRow) -> ArtifactOut:
        return cls(
            id=row.id,
            name=row.name,
            type=row.type,
            content_type=row.content_type,
            size=row.size,
            checksum=row.checksum,
            created_at=row.created_at,
            expires_at=row.expires_at,
            content_url=f"/v1/executions/{row.feature_execution_id}/artifacts/{row.id}/content",
        )


class EventOut(BaseModel):
    """One event of the execution's audit log."""

    id: uuid.UUID
    sequence_number: int
    type: str
    timestamp: datetime
    payload: dict[str, Any]
    causation_id: uuid.UUID | None
    correlation_id: uuid.UUID | None

    @classmethod
    def of(cls, event: StoredEvent) -> EventOut:
        return cls(
            id=event.id,
            sequence_number=event.sequence_number,
            type=event.event_type,
            timestamp=event.timestamp,
            payload=event.payload,
            causation_id=event.causation_id,
            correlation_id=event.correlation_id,
        )


class EventPage(BaseModel):
    """Events after a sequence number; pass `next_after` as `after` for the next page."""

    items: list[EventOut]
    next_after: int

"""Value objects of the domain model (the seed's JSON columns), as pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from domain.enums import ChangeType, ErrorCode, StepType
from domain.paths import PATH_RULE_PATTERN


class _Value(BaseModel):
    # Values travel inside Temporal payloads between workers of different versions: an
    # unknown field is ignored, not refused. Edges that validate client input use strict
    # subclasses (`StrictFeatureConstraints`).
    model_config = ConfigDict(extra="ignore", frozen=False, use_enum_values=False)


class FeatureConstraints(_Value):
    """Boundaries of one execution. Ranges follow the seed: 0 means 'no limit / default'."""

    max_steps: int = 0
    timeout_minutes: int = 0
    allowed_paths: list[str] = Field(default_factory=list)
    forbidden_paths: list[str] = Field(default_factory=list)
    require_tests: bool = False
    require_build: bool = False
    require_plan_approval: bool = False
    # how long a plan may wait for approval before the run ends (0: no deadline)
    plan_approval_timeout_minutes: int = 0


# a week: a plan nobody looked at for longer is stale
MAX_APPROVAL_WAIT_MINUTES = 7 * 24 * 60


class StrictFeatureConstraints(FeatureConstraints):
    """FeatureConstraints as a client sends them: an unknown (misspelt) key is an error, and
    the seed's ranges are declared (so the OpenAPI document states them)."""

    model_config = ConfigDict(extra="forbid")

    # declared here, checked with the seed's messages by domain.validation.constraints_errors
    max_steps: int = Field(
        default=0, description="0: no limit", json_schema_extra={"minimum": 0, "maximum": 50}
    )
    timeout_minutes: int = Field(
        default=0, description="0: the default", json_schema_extra={"minimum": 0, "maximum": 120}
    )
    plan_approval_timeout_minutes: int = Field(
        default=0,
        description="0: no deadline",
        json_schema_extra={"minimum": 0, "maximum": MAX_APPROVAL_WAIT_MINUTES},
    )
    allowed_paths: list[str] = Field(
        default_factory=list,
        description="gitignore patterns; when any is given, only matching paths may change",
        json_schema_extra={"items": {"type": "string", "pattern": PATH_RULE_PATTERN}},
    )
    forbidden_paths: list[str] = Field(
        default_factory=list,
        description="gitignore patterns no change may touch",
        json_schema_extra={"items": {"type": "string", "pattern": PATH_RULE_PATTERN}},
    )


class PlanStep(_Value):
    """One step of an execution plan."""

    index: int
    description: str
    type: StepType
    target_files: list[str] = Field(default_factory=list)
    dependencies: list[int] = Field(default_factory=list)


class ExecutionPlan(_Value):
    """The implementation plan of an execution."""

    steps: list[PlanStep]
    estimated_duration_seconds: int | None = None
    affected_files: list[str] = Field(default_factory=list)
    summary: str | None = None


class ExecutionProgress(_Value):
    """Progress of an execution as clients and operators see it."""

    total_steps: int = 0
    completed_steps: int = 0
    current_step: int = 0
    current_step_description: str | None = None
    percent_complete: float = 0.0

    @classmethod
    def of(
        cls, total: int, completed: int, current: int, description: str | None
    ) -> ExecutionProgress:
        percent = round(100.0 * completed / total, 1) if total else 0.0
        return cls(
            total_steps=total,
            completed_steps=completed,
            current_step=current,
            current_step_description=description,
            percent_complete=percent,
        )


class ExecutionError(_Value):
    """Why an execution failed."""

    code: ErrorCode
    message: str
    details: dict[str, Any] | None = None
    retryable: bool = False
    failed_step: int | None = None


class StepError(_Value):
    """Why one step failed; `phase` is generate, apply or validate."""

    code: str
    message: str
    phase: str
    details: dict[str, Any] | None = None
    retryable: bool = False


class DeliveryResult(_Value):
    """What a completed execution delivered."""

    branch_name: str
    commit_sha: str
    commit_count: int
    files_changed: int
    lines_added: int
    lines_removed: int
    patch_url: str | None = None
    summary: str | None = None
    # deviation (docs/architecture.md): the pull request the delivery opened or updated
    pull_request_url: str | None = None
    pull_request_number: int | None = None


class FileChangeStat(_Value):
    """Statistics of one file in one commit."""

    file_path: str
    change_type: ChangeType
    previous_path: str | None = None
    previous_hash: str | None = None
    new_hash: str | None = None
    lines_added: int = 0
    lines_removed: int = 0
    patch: str = ""


class CredentialData(BaseModel):
    """The plaintext of a credential. Secrets are SecretStr so they never print by accident."""

    model_config = ConfigDict(extra="forbid")

    ssh_private_key: SecretStr | None = None
    ssh_passphrase: SecretStr | None = None
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    oauth_token: SecretStr | None = None
    oauth_refresh_token: SecretStr | None = None

    @field_validator("username")
    @classmethod
    def _no_blank_username(cls, value: str | None) -> str | None:
        return value or None

    def plaintext_json(self) -> bytes:
        """Serialise with secrets revealed: only for encryption inside the vault."""
        import json

        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            out[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
        return json.dumps(out, sort_keys=True).encode()

    def secret_values(self) -> list[str]:
        """Every secret string in this credential, for redaction of messages."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values

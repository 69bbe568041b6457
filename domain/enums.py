"""Enumerations of the domain model, with the seed's numeric and string values."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class GitProvider(IntEnum):
    """Git hosting provider of a repository."""

    UNSPECIFIED = 0
    GITHUB = 1
    GITLAB = 2
    BITBUCKET = 3
    AZURE_DEVOPS = 4
    GITEA = 5
    GENERIC = 6


class State(IntEnum):
    """Lifecycle state of an entity such as a repository."""

    UNSPECIFIED = 0
    ACTIVE = 1
    INACTIVE = 2
    DELETED = 3


class CredentialType(IntEnum):
    """Mechanism a credential authenticates with."""

    UNSPECIFIED = 0
    SSH_KEY = 1
    TOKEN = 2
    OAUTH = 3
    BASIC = 4


class FeatureState(IntEnum):
    """State of a feature execution; `label` is the seed's string name."""

    UNSPECIFIED = 0
    PENDING = 1
    ANALYZING = 2
    PLANNING = 3
    EXECUTING = 4
    VERIFYING = 5
    COMPLETED = 6
    FAILED = 7
    CANCELLED = 8

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> FeatureState:
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"unknown feature state {label!r}") from None

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_FEATURE_STATES


TERMINAL_FEATURE_STATES = frozenset(
    {FeatureState.COMPLETED, FeatureState.FAILED, FeatureState.CANCELLED}
)


class StepType(StrEnum):
    """Kind of work one plan step does."""

    CREATE_FILE = "create_file"
    MODIFY_FILE = "modify_file"
    DELETE_FILE = "delete_file"
    RENAME_FILE = "rename_file"
    ADD_DEPENDENCY = "add_dependency"
    REFACTOR = "refactor"
    TEST = "test"
    DOCUMENTATION = "documentation"


class StepState(IntEnum):
    """State of one execution step."""

    PENDING = 0
    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    SKIPPED = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class ChangeType(StrEnum):
    """How a file changed in a step."""

    CREATED = "created"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"


class ArtifactType(StrEnum):
    """Kind of blob an execution stores in the artifact store."""

    PATCH = "patch"
    BUILD_LOG = "build_log"
    TEST_REPORT = "test_report"
    COVERAGE_REPORT = "coverage_report"
    ANALYSIS_REPORT = "analysis_report"
    PLAN = "plan"
    DEPENDENCY_GRAPH = "dependency_graph"
    TRANSCRIPT = "transcript"


class ErrorCode(StrEnum):
    """Category of an execution failure; also the Temporal ApplicationError type."""

    INVALID_INPUT = "invalid_input"
    REPOSITORY_ACCESS = "repository_access"
    ANALYSIS_FAILED = "analysis_failed"
    PLANNING_FAILED = "planning_failed"
    GENERATION_FAILED = "generation_failed"
    BUILD_FAILED = "build_failed"
    TEST_FAILED = "test_failed"
    PUSH_FAILED = "push_failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    INTERNAL = "internal"

"""Change engines behind one interface: `spec` (declared operations) and `llm` (a model)."""

from activities.codegen.budget import Budget, Usage
from activities.codegen.engine import (
    ChangeEngine,
    FeatureRequest,
    GenerationResult,
    PlanResult,
    validate_plan,
)
from activities.codegen.factory import build_engine, engine_kind, require_engine_available
from activities.codegen.workspace import (
    EditedWorkspace,
    FilesystemWorkspace,
    WorkspaceView,
    normalize_path,
)

__all__ = [
    "Budget",
    "ChangeEngine",
    "EditedWorkspace",
    "FeatureRequest",
    "FilesystemWorkspace",
    "GenerationResult",
    "PlanResult",
    "Usage",
    "WorkspaceView",
    "build_engine",
    "engine_kind",
    "normalize_path",
    "require_engine_available",
    "validate_plan",
]

"""Declared changes: the operations a request for the `spec` engine carries.

Each operation becomes one plan step. They are validated at the edge (API, CLI), so a bad
operation is refused before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema

from domain.paths import RELATIVE_PATH_PATTERN

# The edge (API, CLI) checks `domain.paths.relative_path_problem`, which this pattern states;
# stored changes stay readable as they are, and the git layer checks every edit again.
RelativePath = Annotated[
    str,
    Field(min_length=1),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "pattern": RELATIVE_PATH_PATTERN,
         "description": "Repository-relative, normalised, outside .git"}
    ),
]  # fmt: skip


def _op_required(schema: dict[str, Any]) -> None:
    # `op` is the discriminator: a request must name it even though Python code may omit it
    schema["required"] = sorted({*schema.get("required", []), "op"})
    schema.get("properties", {}).get("op", {}).pop("default", None)


class _Op(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_op_required)
    description: str | None = Field(default=None, description="Step description; derived if absent")


class WriteFile(_Op):
    """Create or overwrite a file with the given content."""

    op: Literal["write_file"] = "write_file"
    path: RelativePath
    content: str


class ReplaceText(_Op):
    """Replace exact text in one file; `count` occurrences must exist (default 1)."""

    op: Literal["replace_text"] = "replace_text"
    path: RelativePath
    search: str = Field(min_length=1)
    replace: str
    count: int = Field(default=1, ge=1)


class RegexReplace(_Op):
    """Regex substitution across every file matching `glob`; at least `min_matches` hits."""

    op: Literal["regex_replace"] = "regex_replace"
    glob: str = Field(min_length=1)
    pattern: str = Field(min_length=1)
    replacement: str
    min_matches: int = Field(default=1, ge=0)


class ApplyDiff(_Op):
    """Apply a unified diff (may touch several files)."""

    op: Literal["apply_diff"] = "apply_diff"
    diff: str = Field(min_length=1)


class DeleteFile(_Op):
    """Delete one file."""

    op: Literal["delete_file"] = "delete_file"
    path: RelativePath


class RenameFile(_Op):
    """Rename (move) one file."""

    op: Literal["rename_file"] = "rename_file"
    path: RelativePath
    new_path: RelativePath


class AddDependency(_Op):
    """Add a dependency, or bump it when present, in the manifest of one ecosystem."""

    op: Literal["add_dependency"] = "add_dependency"
    ecosystem: Literal["python", "npm", "go", "cargo"]
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    manifest: RelativePath | None = Field(
        default=None, description="Manifest path; detected if absent"
    )
    dev: bool = False


DeclaredChange = Annotated[
    WriteFile | ReplaceText | RegexReplace | ApplyDiff | DeleteFile | RenameFile | AddDependency,
    Field(discriminator="op"),
]

declared_changes_adapter: TypeAdapter[list[DeclaredChange]] = TypeAdapter(list[DeclaredChange])

"""File operations a change engine produces for one step and the git layer applies.

Edits are persisted before they are applied, so a retried step re-applies the same edits
instead of generating them again.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Edit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WriteEdit(_Edit):
    """Create or replace a file with full content."""

    kind: Literal["write"] = "write"
    path: str
    content: str
    executable: bool = False


class DeleteEdit(_Edit):
    """Remove a file."""

    kind: Literal["delete"] = "delete"
    path: str


class RenameEdit(_Edit):
    """Move a file; `content` replaces its content at the new path when given."""

    kind: Literal["rename"] = "rename"
    path: str
    new_path: str
    content: str | None = None


FileEdit = Annotated[WriteEdit | DeleteEdit | RenameEdit, Field(discriminator="kind")]

file_edits_adapter: TypeAdapter[list[FileEdit]] = TypeAdapter(list[FileEdit])


def edit_paths(edits: list[FileEdit]) -> list[str]:
    """Every path an edit list touches (both sides of a rename)."""
    paths: list[str] = []
    for e in edits:
        paths.append(e.path)
        if isinstance(e, RenameEdit):
            paths.append(e.new_path)
    return paths

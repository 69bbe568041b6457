"""Apply file edits to a directory the way the git layer does, for engine tests."""

from __future__ import annotations

from pathlib import Path

from domain.edits import DeleteEdit, FileEdit, RenameEdit, WriteEdit


def apply_to_dir(root: Path, edits: list[FileEdit]) -> None:
    for edit in edits:
        if isinstance(edit, WriteEdit):
            target = root / edit.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(edit.content)
        elif isinstance(edit, DeleteEdit):
            (root / edit.path).unlink()
        elif isinstance(edit, RenameEdit):
            target = root / edit.new_path
            target.parent.mkdir(parents=True, exist_ok=True)
            (root / edit.path).rename(target)
            if edit.content is not None:
                target.write_text(edit.content)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root

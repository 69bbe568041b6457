"""Rebuilding a workspace from its base commit and the stored steps, SHA for SHA."""

from __future__ import annotations

from dataclasses import dataclass

from domain.edits import FileEdit


@dataclass(frozen=True)
class ReplayStep:
    """One completed step as persisted: its edits, commit message, timestamp and SHA."""

    edits: list[FileEdit]
    message: str
    timestamp: int
    expected_sha: str

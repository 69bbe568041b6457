"""Listing a directory a run may have changed under us: the entries as the listing gives
them, so walking a tree costs a listing per directory, not a stat per file."""

from __future__ import annotations

import os


def entries(directory: str) -> list[os.DirEntry[str]]:
    """The entries of `directory`; none when it cannot be listed (gone, or locked)."""
    try:
        with os.scandir(directory) as listing:
            return list(listing)
    except OSError:
        return []

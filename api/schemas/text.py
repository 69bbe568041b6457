"""Text Postgres can store: NUL characters are refused at the edge (a 422, not a 500)."""

from __future__ import annotations

from typing import Any


def nul_paths(value: Any, path: str = "") -> list[str]:
    """Field paths of every string (or key) under `value` that contains a NUL character."""
    found: list[str] = []
    if isinstance(value, str):
        if "\x00" in value:
            found.append(path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                found.append(child)
            found.extend(nul_paths(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(nul_paths(item, f"{path}[{index}]"))
    return found


def refuse_nul(data: Any) -> Any:
    """A `model_validator(mode="before")` body: raise when any string holds a NUL."""
    bad = nul_paths(data)
    if bad:
        raise ValueError(f"text must not contain NUL characters (at {', '.join(bad[:5])})")
    return data

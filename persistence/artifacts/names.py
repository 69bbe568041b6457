"""Artifact names and storage keys: only checked names ever become part of a key."""

from __future__ import annotations

import re
import uuid

from domain.errors import FieldError, ValidationFailed

MAX_NAME_LENGTH = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def name_errors(name: str) -> list[FieldError]:
    """Why `name` cannot name an artifact (empty when it can)."""
    if not isinstance(name, str) or not name:
        return [FieldError("name", "artifact name is required")]
    if len(name) > MAX_NAME_LENGTH:
        return [
            FieldError("name", f"artifact name {name[:40]!r}... exceeds {MAX_NAME_LENGTH} chars")
        ]
    if not _NAME.fullmatch(name) or ".." in name:
        return [
            FieldError(
                "name",
                f"artifact name {name!r} may only use letters, digits, '.', '_' and '-', "
                "must start with a letter or digit and must not contain '..'",
            )
        ]
    return []


def safe_name(name: str) -> str:
    """`name` when it is a valid artifact name, else ValidationFailed naming it."""
    errors = name_errors(name)
    if errors:
        raise ValidationFailed(errors)
    return name


def storage_key(
    tenant_id: uuid.UUID, execution_id: uuid.UUID, artifact_id: uuid.UUID, name: str
) -> str:
    """`<tenant>/<execution>/<artifact id>/<name>`, built from ids and a checked name."""
    return f"{tenant_id}/{execution_id}/{artifact_id}/{safe_name(name)}"

"""Repository properties the pipeline reads: phase commands and network switches. Checked at
the edge so a wrong type is refused at registration, not at run time."""

from __future__ import annotations

from typing import Any

from domain.errors import FieldError

COMMAND_PROPERTIES = ("setup_command", "build_command", "test_command")
FLAG_PROPERTIES = ("sandbox_allow_network", "setup_allow_network")


def property_errors(properties: dict[str, Any], prefix: str = "properties") -> list[FieldError]:
    """Commands are text (or null: the phase does not run); switches are booleans."""
    errors = []
    for name in COMMAND_PROPERTIES:
        value = properties.get(name)
        if name in properties and value is not None and not isinstance(value, str):
            errors.append(FieldError(f"{prefix}.{name}", f"{name} must be a string or null"))
    for name in FLAG_PROPERTIES:
        if name in properties and not isinstance(properties[name], bool):
            errors.append(FieldError(f"{prefix}.{name}", f"{name} must be true or false"))
    return errors

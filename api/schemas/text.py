"""Text Postgres can store: NUL characters are refused at the edge (a 422, not a 500).

The rule is declared in the OpenAPI document too (api/contract.py adds the pattern
`NUL_FREE` to every request string), and a refusal names each field that broke it.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

NUL_FREE = r"^[^\x00]*$"
FIELD_RULES = "field_rules"  # the pydantic error type whose ctx lists (field, message) pairs


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
                found.append(path or "body")
            found.extend(nul_paths(item, child))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(nul_paths(item, f"{path}[{index}]"))
    return found


def field_rules_error(errors: list[tuple[str, str]]) -> PydanticCustomError:
    """A validation error carrying one (field path, message) per broken rule, which the
    problem handler turns into one field error each."""
    return PydanticCustomError(
        FIELD_RULES, "{summary}", {"summary": "; ".join(m for _f, m in errors), "errors": errors}
    )


def refuse_nul(data: Any, prefix: str = "") -> Any:
    """A `model_validator(mode="before")` body: raise when any string holds a NUL."""
    bad = nul_paths(data, prefix)
    if bad:
        raise field_rules_error(
            [(path, f"{path} must not contain NUL characters") for path in dict.fromkeys(bad)]
        )
    return data

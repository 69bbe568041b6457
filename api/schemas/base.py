"""The base of every request body: unknown fields are errors and no text holds a NUL."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from api.schemas.text import refuse_nul


class RequestModel(BaseModel):
    """A request body. Subclasses are the bodies the OpenAPI document declares the NUL rule
    for (api/contract.py)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)


def seed_rules(*required: str, examples: list[dict[str, Any]]) -> Any:
    """`json_schema_extra` for a model whose `required` fields are checked by the seed's
    rules (domain.validation), which list every broken rule with the seed's messages: the
    fields default to None in Python so one request reports all of them, and the document
    marks them required (and not nullable) because the server refuses them absent or null."""

    def extra(schema: dict[str, Any]) -> None:
        schema["required"] = sorted({*schema.get("required", []), *required})
        schema["examples"] = examples

    return extra

"""Workflow and activity contracts tolerate fields a newer worker adds (mixed versions)."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

import domain.contracts as contracts
from domain.values import (
    DeliveryResult,
    ExecutionPlan,
    FeatureConstraints,
    StrictFeatureConstraints,
)

MODELS = [
    m
    for _, m in inspect.getmembers(contracts, inspect.isclass)
    if issubclass(m, BaseModel)
    and m.__module__ == contracts.__name__
    and not m.__name__.startswith("_")
]


def _minimal(model: type[BaseModel]) -> dict[str, object]:
    samples = {
        "ExecutionRef": {"execution_id": "e", "tenant_id": "t"},
    }
    data: dict[str, object] = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            continue
        annotation = str(field.annotation)
        if "ExecutionRef" in annotation:
            data[name] = samples["ExecutionRef"]
        elif "ExecutionPlan" in annotation:
            data[name] = {"steps": []}
        elif "DeliveryResult" in annotation:
            data[name] = {
                "branch_name": "b", "commit_sha": "c", "commit_count": 1, "files_changed": 1,
                "lines_added": 1, "lines_removed": 0,
            }  # fmt: skip
        elif "FeatureState" in annotation:
            data[name] = 1
        elif "ErrorCode" in annotation:
            data[name] = "internal"
        elif annotation.startswith("list["):
            data[name] = []
        elif "bool" in annotation:
            data[name] = True
        elif "int" in annotation:
            data[name] = 1
        elif "datetime" in annotation:
            data[name] = "2026-01-01T00:00:00Z"
        elif "Literal" in annotation:
            data[name] = field.annotation.__args__[0]  # type: ignore[union-attr]
        else:
            data[name] = "x"
    return data


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_a_contract_accepts_a_field_it_does_not_know(model: type[BaseModel]) -> None:
    parsed = model.model_validate({**_minimal(model), "added_by_a_newer_worker": 1})
    assert "added_by_a_newer_worker" not in parsed.model_dump()


def test_values_inside_contracts_tolerate_new_fields_but_client_input_does_not() -> None:
    for value in (DeliveryResult, ExecutionPlan, FeatureConstraints):
        assert value.model_config.get("extra") == "ignore"
    with pytest.raises(ValueError, match="extra"):
        StrictFeatureConstraints.model_validate({"max_step": 3})

"""Schemathesis hooks of the fuzz test (loaded through SCHEMATHESIS_HOOKS).

Two request rules relate fields of the same body in a way JSON Schema cannot state: a
declared change's path must lie inside the request's own `constraints.allowed_paths` and
outside its `forbidden_paths`, and `properties.address_review` needs the llm engine and a
follow-up. Generated execution requests that break one are dropped, so the positive-data
check judges only what the schema can promise; the rules themselves are tested in
test_executions.py and listed in docs/api.md.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from domain.paths import path_violation


def breaks_path_constraints(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    constraints = body.get("constraints")
    changes = body.get("changes")
    if not isinstance(constraints, dict) or not isinstance(changes, list):
        return False
    allowed = constraints.get("allowed_paths") or []
    forbidden = constraints.get("forbidden_paths") or []
    if not all(isinstance(p, str) for p in [*allowed, *forbidden]):
        return False
    for change in changes:
        if not isinstance(change, dict):
            continue
        for attr in ("path", "new_path"):
            path = change.get(attr)
            if isinstance(path, str) and path_violation(path, allowed, forbidden):
                return True
    return False


def breaks_review_rule(body: Any) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        return False
    if body["properties"].get("address_review") is not True:
        return False
    follow_up = body.get("continue_from") or body.get("continue_branch")
    return body.get("engine") != "llm" or not follow_up


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    operation = context.operation
    if operation is None or operation.label != "POST /v1/executions":
        return True
    return not breaks_path_constraints(case.body) and not breaks_review_rule(case.body)

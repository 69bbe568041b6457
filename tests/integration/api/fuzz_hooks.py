"""Schemathesis hooks of the fuzz test (loaded through SCHEMATHESIS_HOOKS).

One request rule relates two fields of the same body in a way JSON Schema cannot state: a
declared change's path must lie inside the request's own `constraints.allowed_paths` and
outside its `forbidden_paths`. Generated execution requests that break it are dropped, so
the positive-data check judges only what the schema can promise; the rule itself is tested
in test_executions.py and listed in docs/api.md.
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


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: schemathesis.Case) -> bool:
    operation = context.operation
    if operation is None or operation.label != "POST /v1/executions":
        return True
    return not breaks_path_constraints(case.body)

"""Deterministic identifiers, safe inside the workflow sandbox."""

from __future__ import annotations

import uuid

# Namespace for ids derived from (execution, purpose) so retried activities reuse them.
BUILDER_NAMESPACE = uuid.UUID("6f1d7f3a-2b1e-4c8e-9a57-1f0c2d3b4a59")


def derived_id(*parts: object) -> str:
    """A UUIDv5 derived from the parts: the same inputs always give the same id."""
    return str(uuid.uuid5(BUILDER_NAMESPACE, "/".join(str(p) for p in parts)))


def workflow_id_for(tenant_id: str, idempotency_key: str) -> str:
    """Workflow id of an execution: the client's idempotency key, namespaced by tenant."""
    return f"feature/{tenant_id}/{idempotency_key}"

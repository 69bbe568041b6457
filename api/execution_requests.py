"""Creating an execution: validate at the edge, insert once per idempotency key, start the
workflow (healing a start that failed before), and the client-side commands on a run."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import get_args

from api.config import ApiConfig
from api.deps import ApiDeps
from api.problems import ApiProblem, conflict, validation_problem
from api.schemas.executions import EngineName, ExecutionCreate
from api.workflow_gateway import WorkflowGateway, WorkflowNotFound
from domain.branches import feature_branch_name
from domain.contracts import PlanDecision
from domain.enums import ErrorCode, FeatureState
from domain.errors import Conflict, FieldError, NotFound
from domain.events import EventType
from domain.ids import derived_id, workflow_id_for
from domain.paths import path_violation, relative_path_problem
from domain.pull_requests import PULL_REQUEST_PROPERTY, pull_request_errors
from domain.validation import constraints_errors, feature_execution_errors
from domain.values import ExecutionError
from persistence.events import EventStore
from persistence.repositories.executions import FeatureExecutionRepository
from persistence.repositories.repositories import RepositoryRepository
from persistence.tables import FeatureExecutionRow


@dataclass(frozen=True)
class CreatedExecution:
    """The execution a POST names, and whether this POST created it."""

    row: FeatureExecutionRow
    created: bool


def fingerprint(body: ExecutionCreate) -> str:
    """SHA-256 of the canonical JSON of the request (the key itself excluded)."""
    dumped = body.model_dump(mode="json", exclude={"idempotency_key"})
    for added in ("continue_from", "continue_branch"):
        # fields added later leave the fingerprints of requests without them unchanged
        if dumped.get(added) is None:
            dumped.pop(added, None)
    canonical = json.dumps(
        dumped,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key_of(header: str | None, body: ExecutionCreate) -> str:
    """The header's key, else the body's, else a new one the response hands back. Both
    name the execution: two different ones conflict (409), like a key reused for another
    request. Their syntax (1-200 visible ASCII characters) is checked by the schema."""
    if header is not None and body.idempotency_key is not None and header != body.idempotency_key:
        raise conflict(
            "the Idempotency-Key header and the body's idempotency_key name different "
            "executions; send one of them, or the same key in both"
        )
    key = header if header is not None else body.idempotency_key
    return key if key is not None else uuid.uuid4().hex


def available_engines(config: ApiConfig) -> list[str]:
    """The engines this deployment can run: spec always, the model-driven ones when a model
    is configured. The OpenAPI document lists exactly these."""
    return [e for e in get_args(EngineName) if e == "spec" or config.llm_model]


_PATH_FIELDS = ("path", "new_path", "manifest")


def request_errors(
    tenant_id: uuid.UUID, body: ExecutionCreate, config: ApiConfig
) -> list[FieldError]:
    """Every broken rule of the request beyond its schema types: the seed's, the engine's,
    and the change paths against the request's own path constraints (messages name the
    field and never repeat a value)."""
    errors = feature_execution_errors(
        str(tenant_id),
        str(body.repository_id) if body.repository_id is not None else None,
        body.title,
        body.description,
        # absent means "the repository's default branch", checked once it is known
        body.target_branch if body.target_branch is not None else "default",
    )
    errors += constraints_errors(body.constraints)
    if PULL_REQUEST_PROPERTY in body.properties:
        errors += pull_request_errors(body.properties[PULL_REQUEST_PROPERTY])
    review = body.properties.get("address_review")
    if review is not None and not isinstance(review, bool):
        errors.append(FieldError("properties.address_review", "address_review must be a boolean"))
    elif review and (body.engine != "llm" or not (body.continue_from or body.continue_branch)):
        errors.append(
            FieldError(
                "properties.address_review",
                "address_review needs the llm engine and a follow-up (continue_from or "
                "continue_branch)",
            )
        )
    if body.engine not in available_engines(config):
        errors.append(
            FieldError(
                "engine",
                f"the {body.engine} engine has no model configured: set BUILDER_LLM_PROVIDER, "
                "BUILDER_LLM_MODEL and BUILDER_LLM_API_KEY for the API and the worker, "
                "or use engine 'spec' with declared changes",
            )
        )
    elif body.engine == "spec" and not body.changes:
        errors.append(
            FieldError(
                "changes",
                "the spec engine needs at least one declared change in changes "
                "(or choose engine 'llm')",
            )
        )
    allowed = body.constraints.allowed_paths
    forbidden = body.constraints.forbidden_paths
    for index, change in enumerate(body.changes):
        for attr in _PATH_FIELDS:
            path = getattr(change, attr, None)
            if path is None:
                continue
            name = f"changes[{index}].{attr}"
            problem = relative_path_problem(path)
            if problem is not None:
                errors.append(FieldError(name, f"{name} {problem}"))
            elif attr != "manifest" and path_violation(path, allowed, forbidden) is not None:
                errors.append(
                    FieldError(
                        name,
                        f"{name} is outside constraints.allowed_paths or matches "
                        "constraints.forbidden_paths",
                    )
                )
    return errors


@dataclass(frozen=True)
class FollowUp:
    """What a follow-up continues: the branch, and the earlier execution when named."""

    branch: str
    earlier: FeatureExecutionRow | None


async def follow_up_of(
    executions: FeatureExecutionRepository, tenant_id: uuid.UUID, body: ExecutionCreate
) -> FollowUp | None:
    """The follow-up a request asks for (None for a new branch); problems name the field."""
    if body.continue_from is None:
        return FollowUp(body.continue_branch, None) if body.continue_branch else None
    try:
        earlier = await executions.get(tenant_id, body.continue_from)
    except NotFound:
        raise ApiProblem(
            404, "not-found", "Not found", "continue_from names no execution",
            errors=[FieldError("continue_from", "no such execution")],
        ) from None  # fmt: skip
    problem = None
    pushed = (earlier.result or {}).get("branch_name")
    if earlier.repository_id != body.repository_id:
        problem = "continue_from is an execution of another repository"
    elif not pushed:
        problem = "continue_from has not pushed a branch to continue"
    elif body.continue_branch is not None and body.continue_branch != pushed:
        problem = "continue_branch must be the branch of continue_from, or be left out"
    if problem is not None:
        field = "continue_branch" if problem.startswith("continue_branch") else "continue_from"
        raise validation_problem([FieldError(field, problem)])
    return FollowUp(str(pushed), earlier)


class ExecutionRequests:
    """Creates executions idempotently and relays cancel and plan decisions to the workflow."""

    def __init__(self, deps: ApiDeps, gateway: WorkflowGateway) -> None:
        self._deps = deps
        self._gateway = gateway

    async def create(
        self, tenant_id: uuid.UUID, body: ExecutionCreate, header_key: str | None
    ) -> tuple[CreatedExecution, str]:
        key = idempotency_key_of(header_key, body)
        errors = request_errors(tenant_id, body, self._deps.config)
        if errors:
            raise validation_problem(errors)
        digest = fingerprint(body)
        try:
            outcome = CreatedExecution(await self._insert(tenant_id, body, key, digest), True)
        except Conflict:
            outcome = CreatedExecution(await self._existing(tenant_id, key, digest), False)
        if FeatureState(outcome.row.state) == FeatureState.PENDING:
            # also for an existing row: heals a POST whose workflow start failed
            await self._gateway.start(outcome.row)
        return outcome, key

    async def _insert(
        self, tenant_id: uuid.UUID, body: ExecutionCreate, key: str, digest: str
    ) -> FeatureExecutionRow:
        assert body.repository_id is not None and body.title and body.description
        execution_id = uuid.uuid4()
        async with self._deps.sessions.begin() as session:
            try:
                repository = await RepositoryRepository(session).get(tenant_id, body.repository_id)
            except NotFound:
                raise ApiProblem(
                    404, "not-found", "Not found", "repository_id names no repository",
                    errors=[FieldError("repository_id", "no such repository")],
                ) from None  # fmt: skip
            executions = FeatureExecutionRepository(session)
            follow_up = await follow_up_of(executions, tenant_id, body)
            earlier = follow_up.earlier if follow_up else None
            target = (
                body.target_branch
                if body.target_branch is not None
                else earlier.target_branch
                if earlier is not None
                else repository.default_branch
            )
            branch = follow_up.branch if follow_up else None
            if branch is not None and branch == target:
                raise validation_problem(
                    [FieldError("continue_branch", "continue_branch must not be the target branch")]
                )
            properties = dict(body.properties)
            if earlier is not None and PULL_REQUEST_PROPERTY not in properties:
                # a follow-up delivers like the execution it continues
                inherited = (earlier.properties or {}).get(PULL_REQUEST_PROPERTY)
                if inherited is not None:
                    properties[PULL_REQUEST_PROPERTY] = inherited
            row = await executions.create(
                tenant_id,
                repository.id,
                title=body.title,
                description=body.description,
                target_branch=target,
                constraints=body.constraints,
                idempotency_key=key,
                correlation_id=body.correlation_id,
                feature_branch=branch or feature_branch_name(body.title or "", str(execution_id)),
                requested_by=body.requested_by,
                engine=body.engine,
                changes=[c.model_dump(mode="json") for c in body.changes],
                request_fingerprint=digest,
                workflow_id=workflow_id_for(str(tenant_id), key),
                properties=properties,
                execution_id=execution_id,
                continues_execution_id=earlier.id if earlier is not None else None,
                continues_branch=branch,
            )
            await EventStore(session).append(
                row.id,
                EventType.EXECUTION_CREATED,
                {
                    "title": row.title,
                    "repository_id": str(row.repository_id),
                    "engine": row.engine,
                    "idempotency_key": key,
                    "requested_by": row.requested_by,
                },
                producer_id=self._deps.config.producer_id,
                event_id=uuid.UUID(derived_id(row.id, EventType.EXECUTION_CREATED)),
            )
        return row

    async def _existing(self, tenant_id: uuid.UUID, key: str, digest: str) -> FeatureExecutionRow:
        async with self._deps.sessions() as session:
            row = await FeatureExecutionRepository(session).find_by_idempotency_key(tenant_id, key)
        if row is None:
            raise conflict("the idempotency key is in use by a request being processed; retry")
        if row.request_fingerprint != digest:
            raise conflict(
                f"the idempotency key was already used for execution {row.id} with a "
                "different request body; use a new key for a new request"
            )
        return row

    async def cancel(
        self, tenant_id: uuid.UUID, execution_id: uuid.UUID, reason: str | None
    ) -> FeatureExecutionRow:
        row = await self._get(tenant_id, execution_id)
        state = FeatureState(row.state)
        if state.is_terminal:
            raise conflict(f"execution {row.id} already ended ({state.label}); nothing to cancel")
        try:
            await self._gateway.cancel(row.workflow_id or "", reason)
        except WorkflowNotFound:
            if state != FeatureState.PENDING:
                raise
            # its workflow never started (Temporal was down at POST): cancel the row itself
            return await self._cancel_unstarted(row, reason)
        return row

    async def _cancel_unstarted(
        self, row: FeatureExecutionRow, reason: str | None
    ) -> FeatureExecutionRow:
        message = reason or "cancelled before its workflow started"
        async with self._deps.sessions.begin() as session:
            updated = await FeatureExecutionRepository(session).update_state(
                row.tenant_id,
                row.id,
                FeatureState.CANCELLED,
                error=ExecutionError(code=ErrorCode.CANCELLED, message=message),
            )
            await EventStore(session).append(
                row.id,
                EventType.EXECUTION_CANCELLED,
                {"reason": message},
                producer_id=self._deps.config.producer_id,
                event_id=uuid.UUID(derived_id(row.id, EventType.EXECUTION_CANCELLED)),
            )
        return updated

    async def decide_plan(
        self,
        tenant_id: uuid.UUID,
        execution_id: uuid.UUID,
        approved: bool,
        reason: str | None,
        by: str | None,
    ) -> tuple[FeatureExecutionRow, str]:
        row = await self._get(tenant_id, execution_id)
        state = FeatureState(row.state)
        if state != FeatureState.PLANNING:
            raise conflict(
                f"execution {row.id} is not waiting for plan approval (state {state.label})"
            )
        decision = PlanDecision(approved=approved, reason=reason, by=by)
        result = await self._gateway.decide_plan(row.workflow_id or "", decision)
        return row, result

    async def _get(self, tenant_id: uuid.UUID, execution_id: uuid.UUID) -> FeatureExecutionRow:
        async with self._deps.sessions() as session:
            row = await FeatureExecutionRepository(session).find(tenant_id, execution_id)
        if row is None:
            raise NotFound(f"feature execution {execution_id} not found")
        return row

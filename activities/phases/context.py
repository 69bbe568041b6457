"""What every phase shares: the worker's clients, the rows of one execution, event ids and
artifact I/O.

Activities load an `ExecutionContext` once (execution, repository and steps in one unit of
work), stage their events on the unit of work that writes their results (appended in one
statement right before the commit), and derive every id from the execution and a purpose,
so a retried activity writes nothing twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activities.codegen.agent.loop import AgentLimits
from activities.codegen.engine import FeatureRequest
from activities.codegen.llm import LLMConfig
from activities.git import GitCredential, GitEngine
from activities.phases.environment import EnvironmentSettings
from activities.sandbox import SandboxRunner
from domain.changes import declared_changes_adapter
from domain.contracts import ExecutionRef
from domain.enums import ArtifactType
from domain.errors import NotFound
from domain.ids import derived_id
from domain.redaction import register_secrets
from domain.values import FeatureConstraints
from persistence.artifacts import ArtifactService, ArtifactStore, artifact_id_for
from persistence.credentials import CredentialRepository
from persistence.tables import ExecutionStepRow, FeatureExecutionRow, RepositoryRow
from persistence.uow import UnitOfWork
from persistence.vault import Keyring


@dataclass
class PhaseDeps:
    """Shared clients and engines of one worker process (built by the composition root,
    `builder/deps.py`, from settings: nothing under activities/ reads settings)."""

    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    store: ArtifactStore
    keyring: Keyring
    git: GitEngine
    sandbox: SandboxRunner
    llm: LLMConfig | None
    worker_queue: str
    producer_id: str
    lock_ttl: timedelta
    setup_timeout_s: float
    build_timeout_s: float
    test_timeout_s: float
    patch_inline_limit: int
    environments: EnvironmentSettings | None = None
    # executions a tenant may run at once unless overridden (None or 0: unlimited)
    tenant_max_concurrent: int | None = None
    # where clients reach the API: links in pull request bodies (none when unset)
    public_url: str | None = None
    agent: AgentLimits = field(default_factory=AgentLimits)


@dataclass(frozen=True)
class ExecutionContext:
    """The execution, its repository and its steps, as one activity read them."""

    execution: FeatureExecutionRow
    repository: RepositoryRow
    steps: list[ExecutionStepRow]

    @property
    def tenant(self) -> uuid.UUID:
        return self.execution.tenant_id

    @property
    def id(self) -> uuid.UUID:
        return self.execution.id

    @property
    def key(self) -> str:
        """The worktree key on this worker (the execution id)."""
        return str(self.execution.id)

    @property
    def constraints(self) -> FeatureConstraints:
        return FeatureConstraints.model_validate(self.execution.constraints or {})

    def step(self, index: int) -> ExecutionStepRow:
        for step in self.steps:
            if step.step_index == index:
                return step
        raise NotFound(f"execution step {index} of {self.execution.id} not found")

    def find_step(self, index: int) -> ExecutionStepRow | None:
        return next((s for s in self.steps if s.step_index == index), None)

    def request(self) -> FeatureRequest:
        changes = self.execution.changes
        return FeatureRequest(
            title=self.execution.title,
            description=self.execution.description,
            constraints=self.constraints,
            changes=declared_changes_adapter.validate_python(changes) if changes else None,
        )


class Phase:
    """Base of each phase's activity implementation: the deps and the shared helpers."""

    def __init__(self, deps: PhaseDeps) -> None:
        self.deps = deps

    def unit(self) -> UnitOfWork:
        return UnitOfWork(self.deps.sessions)

    @contextlib.asynccontextmanager
    async def reads(self) -> AsyncIterator[UnitOfWork]:
        """A unit of work that only reads (no BEGIN and ROLLBACK around it)."""
        async with self.unit() as uow:
            yield await uow.reads_only()

    async def context(self, ref: ExecutionRef) -> ExecutionContext:
        """The execution, its repository and its steps, read in one unit of work: two
        statements (execution joined with its repository, both scoped to the tenant; then
        the steps of that execution)."""
        async with self.reads() as uow:
            execution, repository = await uow.executions.with_repository(
                ref.tenant_id, ref.execution_id
            )
            steps = await uow.steps.of_found_execution(execution.id)
        return ExecutionContext(execution=execution, repository=repository, steps=steps)

    def emit(
        self,
        uow: UnitOfWork,
        execution_id: uuid.UUID,
        event_type: str,
        payload: dict[str, Any],
        *,
        event_id: uuid.UUID | str,
        causation_id: uuid.UUID | str | None = None,
    ) -> None:
        """Stage an event on `uow`; it is appended when the unit of work commits."""
        uow.events.stage(
            execution_id,
            str(event_type),
            payload,
            event_id=uuid.UUID(str(event_id)),
            causation_id=uuid.UUID(str(causation_id)) if causation_id else None,
            correlation_id=execution_id,
            producer_id=self.deps.producer_id,
        )

    async def credential(self, ctx: ExecutionContext) -> GitCredential | None:
        """Decrypt the repository's credential: only activities that talk to the remote."""
        async with self.reads() as uow:
            loaded = await CredentialRepository(uow.session, self.deps.keyring).load_credential(
                ctx.tenant, ctx.repository.id
            )
        if loaded is None:
            return None
        credential = GitCredential(type=loaded[0], data=loaded[1])
        # whatever a library logs from here on, these values come out redacted
        register_secrets(credential.secrets())
        return credential

    async def text_artifact(self, ctx: ExecutionContext, name: str) -> str | None:
        """An artifact of this execution by name (its id derives from the name)."""
        async with self.reads() as uow:
            service = ArtifactService(uow.session, self.deps.store)
            try:
                stream = await service.open(ctx.tenant, artifact_id_for(ctx.id, name))
            except NotFound:
                return None
            chunks = [c async for c in stream]
        return b"".join(chunks).decode(errors="replace")

    async def put_artifact(
        self,
        uow: UnitOfWork,
        ctx: ExecutionContext,
        name: str,
        kind: ArtifactType,
        content_type: str,
        data: bytes,
        metadata: dict[str, Any] | None = None,
    ) -> Any:
        return await ArtifactService(uow.session, self.deps.store).put(
            ctx.tenant, ctx.id, name, kind, content_type, data=data, metadata=metadata
        )


def event_id(execution_id: uuid.UUID, *purpose: object) -> uuid.UUID:
    """The id of the event an activity appends for `purpose`: the same on every retry."""
    return uuid.UUID(derived_id(execution_id, *purpose))


def json_bytes(obj: Any) -> bytes:
    if hasattr(obj, "model_dump_json"):
        return bytes(obj.model_dump_json().encode())
    return json.dumps(dataclasses.asdict(obj), default=str).encode()

"""Model usage: every call's tokens and cost recorded as an event, and the budget an
activity may still spend rebuilt from those events."""

from __future__ import annotations

import json

from sqlalchemy import select

from activities.codegen.budget import Budget, Usage
from activities.phases.context import ExecutionContext, Phase, event_id
from domain.events import EventType
from persistence.tables import ExecutionEventRow
from persistence.uow import UnitOfWork


async def remaining_budget(phase: Phase, ctx: ExecutionContext) -> Budget:
    """The execution's token and cost budget minus what its recorded calls spent."""
    llm = phase.deps.llm
    if llm is None or ctx.execution.engine == "spec":
        return Budget()
    async with phase.unit() as uow:
        payloads = (
            await uow.session.scalars(
                select(ExecutionEventRow.payload).where(
                    ExecutionEventRow.feature_execution_id == ctx.id,
                    ExecutionEventRow.event_type == EventType.LLM_USAGE.value,
                )
            )
        ).all()
    spent = [Usage.model_validate(json.loads(p)["usage"]) for p in payloads]
    return Budget.from_usage(llm.max_tokens_budget, llm.max_cost_usd, spent)


def record_usage(
    phase: Phase, uow: UnitOfWork, ctx: ExecutionContext, purpose: str, usage: list[Usage]
) -> None:
    """Stage one `llm.usage` event per call; ids derive from the purpose and call number."""
    for n, u in enumerate(usage):
        phase.emit(
            uow,
            ctx.id,
            EventType.LLM_USAGE,
            {"purpose": purpose, "usage": u.model_dump(mode="json")},
            event_id=event_id(ctx.id, "llm.usage", purpose, n),
        )

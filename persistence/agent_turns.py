"""Agent turns of one execution step, tenant-scoped; work inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from persistence.tables import AgentTurnRow


class AgentTurnRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_step(
        self, tenant_id: uuid.UUID, execution_id: uuid.UUID, step_index: int
    ) -> Sequence[AgentTurnRow]:
        """The step's turns in order."""
        return await self._turns(tenant_id, execution_id, AgentTurnRow.step_index == step_index)

    async def store_response(
        self,
        tenant_id: uuid.UUID,
        execution_id: uuid.UUID,
        step_index: int,
        turn_index: int,
        response: dict[str, Any],
        model_seconds: float,
    ) -> None:
        """Store a turn's model response; a response already stored for the turn wins."""
        await self.session.execute(
            insert(AgentTurnRow)
            .values(
                tenant_id=tenant_id,
                feature_execution_id=execution_id,
                step_index=step_index,
                turn_index=turn_index,
                response=response,
                model_seconds=model_seconds,
            )
            .on_conflict_do_nothing(
                index_elements=["feature_execution_id", "step_index", "turn_index"]
            )
        )

    async def store_outcomes(
        self,
        tenant_id: uuid.UUID,
        execution_id: uuid.UUID,
        step_index: int,
        turn_index: int,
        outcomes: list[Any],
        changes: list[Any],
    ) -> None:
        await self.session.execute(
            update(AgentTurnRow)
            .where(
                AgentTurnRow.tenant_id == tenant_id,
                AgentTurnRow.feature_execution_id == execution_id,
                AgentTurnRow.step_index == step_index,
                AgentTurnRow.turn_index == turn_index,
            )
            .values(outcomes=outcomes, changes=changes, completed_at=func.now())
        )

    async def of_execution(
        self, tenant_id: uuid.UUID, execution_id: uuid.UUID
    ) -> Sequence[AgentTurnRow]:
        """The whole conversation in order: the declaring turns (step -1), then each step's."""
        return await self._turns(tenant_id, execution_id)

    async def _turns(
        self, tenant_id: uuid.UUID, execution_id: uuid.UUID, *where: ColumnElement[bool]
    ) -> Sequence[AgentTurnRow]:
        query = select(AgentTurnRow).where(
            AgentTurnRow.tenant_id == tenant_id,
            AgentTurnRow.feature_execution_id == execution_id,
            *where,
        )
        order = (AgentTurnRow.step_index, AgentTurnRow.turn_index)
        return (await self.session.scalars(query.order_by(*order))).all()

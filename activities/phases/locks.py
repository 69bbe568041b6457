"""The execution's lease on (repository, feature branch), fenced by a growing token."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from temporalio import activity

from activities.phases.bookkeeping import stage_state
from activities.phases.context import Phase, event_id
from activities.runtime import maps_domain_errors
from domain.contracts import LockRequest, LockResult
from domain.events import EventType
from persistence.admission import AdmissionRepository
from persistence.repositories.base import as_uuid
from persistence.tables import DistributedLockRow, FeatureExecutionRow
from persistence.uow import UnitOfWork
from workflows.activities import LockActivities


def lock_key(row: FeatureExecutionRow) -> str:
    return branch_lock_key(row.repository_id, row.feature_branch)


def branch_lock_key(repository_id: uuid.UUID, feature_branch: str | None) -> str:
    return f"branch:{repository_id}:{feature_branch}"


async def _lock_of(uow: UnitOfWork, inp: LockRequest) -> tuple[uuid.UUID, str]:
    """(execution id, lock key) of the request's live execution; NotFound otherwise."""
    execution_id = as_uuid(inp.ref.execution_id, "feature execution")
    repository_id, branch = await uow.executions.branch_of(inp.ref.tenant_id, execution_id)
    return execution_id, branch_lock_key(repository_id, branch)


class Locks(Phase, LockActivities):
    @activity.defn
    @maps_domain_errors
    async def acquire_lock(self, inp: LockRequest) -> LockResult:
        """Lock (repository, feature branch); a retry by the same owner keeps its lease."""
        async with self.unit() as uow:
            execution_id, key = await _lock_of(uow, inp)
            # the run is alive: renew the lease of its execution slot (tenant limit)
            await AdmissionRepository(uow.session).renew(execution_id)
            await uow.commit()
            holder = await uow.locks.holder(key)
            if holder is not None and holder.owner_id == inp.owner_id:
                return LockResult(acquired=True, fencing_token=holder.fencing_token, lock_key=key)
            lease = await uow.locks.acquire(key, inp.owner_id, execution_id, self.deps.lock_ttl)
            if lease is None:
                return LockResult(
                    acquired=False, lock_key=key, holder_execution_id=await _holder(uow, key)
                )
            self.emit(
                uow,
                execution_id,
                EventType.LOCK_ACQUIRED,
                {"lock_key": key, "fencing_token": lease.fencing_token},
                event_id=event_id(execution_id, "lock.acquired", inp.owner_id),
            )
            await uow.commit()
            return LockResult(acquired=True, fencing_token=lease.fencing_token, lock_key=key)

    @activity.defn
    @maps_domain_errors
    async def refresh_lock(self, inp: LockRequest) -> LockResult:
        """Extend the lease; `acquired=False` means it was lost (expired and taken, or
        released): the workflow must stop before it pushes anything."""
        async with self.unit() as uow:
            execution_id, key = await _lock_of(uow, inp)
            ok = await uow.locks.refresh(
                key, inp.owner_id, inp.fencing_token or 0, self.deps.lock_ttl
            )
            if ok:
                await AdmissionRepository(uow.session).renew(execution_id)
            await uow.commit()
            return LockResult(acquired=ok, fencing_token=inp.fencing_token, lock_key=key)

    @activity.defn
    @maps_domain_errors
    async def release_lock(self, inp: LockRequest) -> LockResult:
        async with self.unit() as uow:
            execution_id, key = await _lock_of(uow, inp)
            released = await uow.locks.release(key, inp.owner_id, inp.fencing_token or 0)
            self.emit(
                uow,
                execution_id,
                EventType.LOCK_RELEASED,
                {"lock_key": key},
                event_id=event_id(execution_id, "lock.released", inp.owner_id),
            )
            await uow.commit()
            if inp.state is not None:
                # the run's final state, after the release is durable: a state that cannot
                # be written must not keep the branch locked
                await stage_state(self, uow, inp.state)
                await uow.commit()
            return LockResult(
                acquired=not released, fencing_token=inp.fencing_token, lock_key=key,
                state_recorded=inp.state is not None,
            )  # fmt: skip


async def _holder(uow: UnitOfWork, key: str) -> str | None:
    """The execution holding `key` now, if any."""
    feature = await uow.session.scalar(
        select(DistributedLockRow.feature_id).where(DistributedLockRow.lock_key == key)
    )
    return str(feature) if feature else None

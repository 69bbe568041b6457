"""The admission queue behind the per-tenant concurrency limit (migration 000014).

One transaction per attempt. When a limit applies it is serialised per tenant by a
transaction-scoped advisory lock: enqueue (idempotent), count the slots in use and the live
waiters ahead, admit when the rule in domain/admission.py says so; without a limit the
execution is enqueued admitted by one write, without the lock. A slot is held by an
admitted row whose execution has not reached a terminal state, so an execution releases
its slot by ending, however it ends; a crashed worker holds nothing (the workflow carries on
elsewhere and still ends).

A waiter that stopped polling (its workflow is gone without an ending, e.g. terminated)
goes stale after `STALE_AFTER` and no longer counts ahead of anyone; it keeps its place and
counts again when it polls. An admitted row is a lease as well, renewed by the run's lock
activities; a run terminated without an ending stops renewing it and its slot comes free
after `HELD_LEASE`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Interval, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from domain.admission import Decision, decide, effective_limit

_UUID = PgUUID(as_uuid=True)
STALE_AFTER = timedelta(minutes=5)
# an admitted row is a lease too: the run's lock activities (acquire, and the refresh every
# 30 s) renew it; one not renewed for this long belongs to a run that can no longer end
# (terminated through Temporal) and frees its slot
HELD_LEASE = timedelta(minutes=15)
# feature_executions.state values that end an execution (completed, failed, cancelled),
# written into the statements below; tests/unit check them against TERMINAL_FEATURE_STATES
TERMINAL_STATE_VALUES = (6, 7, 8)

_SERIALISE = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))")

_ENQUEUE = text(
    """
INSERT INTO execution_admissions AS a (feature_execution_id, tenant_id)
SELECT f.id, f.tenant_id FROM feature_executions f WHERE f.id = :execution AND f.tenant_id = :tenant
ON CONFLICT (feature_execution_id) DO UPDATE SET polled_at = clock_timestamp()
RETURNING a.queue_seq, a.admitted_at IS NOT NULL AS admitted
"""
).bindparams(bindparam("execution", type_=_UUID), bindparam("tenant", type_=_UUID))

# without a limit: enqueue admitted (or admit a row queued while a limit applied), one
# write and no tenant lock, since there is nothing to count
_ENQUEUE_ADMITTED = text(
    """
INSERT INTO execution_admissions AS a (feature_execution_id, tenant_id, admitted_at)
SELECT f.id, f.tenant_id, clock_timestamp() FROM feature_executions f
WHERE f.id = :execution AND f.tenant_id = :tenant
ON CONFLICT (feature_execution_id) DO UPDATE
    SET polled_at = clock_timestamp(), admitted_at = COALESCE(a.admitted_at, clock_timestamp())
RETURNING a.queue_seq
"""
).bindparams(bindparam("execution", type_=_UUID), bindparam("tenant", type_=_UUID))
_OVERRIDE = text(
    "SELECT max_concurrent_executions FROM tenant_execution_limits WHERE tenant_id = :tenant"
).bindparams(bindparam("tenant", type_=_UUID))

# slots in use: admitted, not released, execution not ended, lease renewed
_HELD = text(
    """
SELECT count(*) FROM execution_admissions a
JOIN feature_executions f ON f.id = a.feature_execution_id
WHERE a.tenant_id = :tenant AND a.released_at IS NULL AND f.state NOT IN (6, 7, 8)
  AND a.admitted_at IS NOT NULL AND a.polled_at > clock_timestamp() - :lease
"""
).bindparams(bindparam("tenant", type_=_UUID), bindparam("lease", type_=Interval))

# live waiters enqueued before :seq (a waiter that stopped polling does not count)
_AHEAD = text(
    """
SELECT count(*) FROM execution_admissions a
JOIN feature_executions f ON f.id = a.feature_execution_id
WHERE a.tenant_id = :tenant AND a.released_at IS NULL AND f.state NOT IN (6, 7, 8)
  AND a.admitted_at IS NULL AND a.queue_seq < :seq AND a.polled_at > clock_timestamp() - :stale
"""
).bindparams(bindparam("tenant", type_=_UUID), bindparam("stale", type_=Interval))

_ADMIT = text(
    """UPDATE execution_admissions
    SET admitted_at = clock_timestamp(), polled_at = clock_timestamp()
    WHERE feature_execution_id = :execution"""
).bindparams(bindparam("execution", type_=_UUID))

_RENEW = text(
    """UPDATE execution_admissions SET polled_at = clock_timestamp()
    WHERE feature_execution_id = :execution AND released_at IS NULL"""
).bindparams(bindparam("execution", type_=_UUID))

_RELEASE = text(
    """UPDATE execution_admissions SET released_at = clock_timestamp()
    WHERE feature_execution_id = :execution AND released_at IS NULL"""
).bindparams(bindparam("execution", type_=_UUID))

_POSITIONS = text(
    """
SELECT a.feature_execution_id AS id,
       (SELECT count(*) FROM execution_admissions b JOIN feature_executions g
          ON g.id = b.feature_execution_id
        WHERE b.tenant_id = a.tenant_id AND b.released_at IS NULL AND b.admitted_at IS NULL
          AND g.state NOT IN (6, 7, 8) AND b.queue_seq < a.queue_seq
          AND b.polled_at > clock_timestamp() - :stale) + 1 AS position
FROM execution_admissions a JOIN feature_executions f ON f.id = a.feature_execution_id
WHERE a.tenant_id = :tenant AND a.released_at IS NULL AND f.state NOT IN (6, 7, 8)
  AND a.admitted_at IS NULL AND a.feature_execution_id = ANY(:ids)
"""
).bindparams(
    bindparam("tenant", type_=_UUID),
    bindparam("ids", type_=ARRAY(_UUID)),
    bindparam("stale", type_=Interval),
)

_WAITING = text(
    """
SELECT count(*) FROM execution_admissions a
JOIN feature_executions f ON f.id = a.feature_execution_id
WHERE a.tenant_id = :tenant AND a.released_at IS NULL AND f.state NOT IN (6, 7, 8)
  AND a.admitted_at IS NULL
"""
).bindparams(bindparam("tenant", type_=_UUID))

_SET_LIMIT = text(
    """
INSERT INTO tenant_execution_limits (tenant_id, max_concurrent_executions)
VALUES (:tenant, :limit)
ON CONFLICT (tenant_id) DO UPDATE SET
    max_concurrent_executions = excluded.max_concurrent_executions, updated_at = NOW()
"""
).bindparams(bindparam("tenant", type_=_UUID))

_CLEAR_LIMIT = text("DELETE FROM tenant_execution_limits WHERE tenant_id = :tenant").bindparams(
    bindparam("tenant", type_=_UUID)
)


@dataclass(frozen=True)
class Admission:
    """The outcome of one attempt, with the limit that applied (None: unlimited)."""

    admitted: bool
    position: int | None
    limit: int | None


@dataclass(frozen=True)
class TenantLimit:
    """A tenant's limit as operators see it."""

    tenant_id: uuid.UUID
    has_override: bool
    override: int | None
    default: int | None
    effective: int | None
    running: int
    waiting: int


def _uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


class AdmissionRepository:
    """Works inside the caller's transaction; `try_admit` must be the transaction's only
    work (when a limit applies it takes the tenant's advisory lock until commit)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def override(self, tenant: uuid.UUID | str) -> tuple[bool, int | None]:
        rows = (await self.session.execute(_OVERRIDE, {"tenant": _uuid(tenant)})).all()
        return (True, rows[0][0]) if rows else (False, None)

    async def try_admit(
        self, tenant: uuid.UUID | str, execution: uuid.UUID | str, default_limit: int | None
    ) -> Admission:
        """Enqueue the execution (once) and admit it when its turn has come."""
        t, e = _uuid(tenant), _uuid(execution)
        has_override, override = await self.override(t)
        limit = effective_limit(default_limit, has_override, override)
        if limit is None:
            # unlimited: no count to serialise, so no tenant-wide lock; under a burst of one
            # tenant's starts that lock made every admission wait for all the others
            # (7 s per admission at 200 concurrent starts). A limit an operator sets at this
            # moment applies from the next admission on.
            params = {"execution": e, "tenant": t}
            admitted = (await self.session.execute(_ENQUEUE_ADMITTED, params)).one_or_none()
            return Admission(admitted=admitted is not None, position=None, limit=None)
        await self.session.execute(_SERIALISE, {"key": f"admission:{t}"})
        row = (await self.session.execute(_ENQUEUE, {"execution": e, "tenant": t})).one_or_none()
        if row is None:  # no such execution of this tenant: nothing to queue
            return Admission(admitted=False, position=None, limit=limit)
        if row.admitted:
            return Admission(admitted=True, position=None, limit=limit)
        decision = Decision(admitted=True, position=None)
        if limit is not None:
            held = int(await self.session.scalar(_HELD, {"tenant": t, "lease": HELD_LEASE}) or 0)
            ahead = int(
                await self.session.scalar(
                    _AHEAD, {"tenant": t, "seq": row.queue_seq, "stale": STALE_AFTER}
                )
                or 0
            )
            decision = decide(limit, held, ahead)
        if decision.admitted:
            await self.session.execute(_ADMIT, {"execution": e})
        return Admission(admitted=decision.admitted, position=decision.position, limit=limit)

    async def renew(self, execution: uuid.UUID | str) -> None:
        """Renew the lease of the execution's slot (nothing when it never asked for one)."""
        await self.session.execute(_RENEW, {"execution": _uuid(execution)})

    async def release(self, execution: uuid.UUID | str) -> None:
        """Mark the ended execution's row released (in the transaction that records the
        ending), so the live index stays small; the state check already freed the slot."""
        await self.session.execute(_RELEASE, {"execution": _uuid(execution)})

    async def queue_positions(
        self, tenant: uuid.UUID | str, executions: list[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        """The 1-based queue position of each of `executions` that waits for a slot."""
        if not executions:
            return {}
        rows = await self.session.execute(
            _POSITIONS, {"tenant": _uuid(tenant), "ids": executions, "stale": STALE_AFTER}
        )
        return {r.id: int(r.position) for r in rows}

    async def describe(self, tenant: uuid.UUID | str, default_limit: int | None) -> TenantLimit:
        t = _uuid(tenant)
        has_override, override = await self.override(t)
        return TenantLimit(
            tenant_id=t,
            has_override=has_override,
            override=override,
            default=default_limit or None,
            effective=effective_limit(default_limit, has_override, override),
            running=int(await self.session.scalar(_HELD, {"tenant": t, "lease": HELD_LEASE}) or 0),
            waiting=int(await self.session.scalar(_WAITING, {"tenant": t}) or 0),
        )

    async def set_override(self, tenant: uuid.UUID | str, limit: int | None) -> None:
        """Override the default for this tenant; None means unlimited."""
        if limit is not None and limit < 1:
            raise ValueError("a limit is a positive integer or None (unlimited)")
        await self.session.execute(_SET_LIMIT, {"tenant": _uuid(tenant), "limit": limit})

    async def clear_override(self, tenant: uuid.UUID | str) -> bool:
        """Back to the deployment default; False when there was no override."""
        result = await self.session.execute(_CLEAR_LIMIT, {"tenant": _uuid(tenant)})
        return bool(getattr(result, "rowcount", 0))

"""The admission queue on a real Postgres: the limit holds under concurrent attempts, slots
go out in FIFO order as executions end, a cancelled waiter frees nothing, a waiter that
stopped polling does not block the queue, and a tenant's limit does not touch another's."""

from __future__ import annotations

import asyncio
import random
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.enums import FeatureState
from persistence.admission import Admission, AdmissionRepository
from persistence.tables import FeatureExecutionRow
from tests.integration.persistence.factories import committed_execution, committed_repository


async def _executions(
    sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, n: int
) -> list[FeatureExecutionRow]:
    repo = await committed_repository(sessions, tenant)
    return [await committed_execution(sessions, repository=repo) for _ in range(n)]


async def _attempt(
    sessions: async_sessionmaker[AsyncSession],
    row: FeatureExecutionRow,
    default: int | None = None,
) -> Admission:
    async with sessions.begin() as session:
        return await AdmissionRepository(session).try_admit(row.tenant_id, row.id, default)


async def _set_state(
    sessions: async_sessionmaker[AsyncSession], row: FeatureExecutionRow, state: FeatureState
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            text("UPDATE feature_executions SET state = :s WHERE id = :id"),
            {"s": int(state), "id": row.id},
        )


async def _override(
    sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, limit: int | None
) -> None:
    async with sessions.begin() as session:
        await AdmissionRepository(session).set_override(tenant, limit)


async def _positions(
    sessions: async_sessionmaker[AsyncSession], tenant: uuid.UUID, rows: list[FeatureExecutionRow]
) -> dict[uuid.UUID, int]:
    async with sessions() as session:
        return await AdmissionRepository(session).queue_positions(tenant, [r.id for r in rows])


async def test_racing_first_attempts_admit_exactly_the_limit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    rows = await _executions(sessions, tenant, 12)
    results = await asyncio.gather(*(_attempt(sessions, r, default=3) for r in rows))
    assert sum(r.admitted for r in results) == 3
    waiting = sorted(r.position for r in results if not r.admitted and r.position)
    assert waiting == list(range(1, 10))  # every waiter has its own place, 1..9
    assert all(r.limit == 3 for r in results)


async def test_slots_go_out_in_fifo_order_as_executions_end_under_concurrent_polls(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    rows = await _executions(sessions, tenant, 10)
    await _override(sessions, tenant, 2)
    for row in rows:  # enqueued one after the other: that order is the queue
        await _attempt(sessions, row)
    admitted_order: list[uuid.UUID] = [rows[0].id, rows[1].id]
    running = {rows[0].id, rows[1].id}
    by_id = {r.id: r for r in rows}
    ends = [FeatureState.COMPLETED, FeatureState.FAILED, FeatureState.CANCELLED]
    while len(admitted_order) < len(rows):
        waiting = [r for r in rows if r.id not in admitted_order]
        positions = await _positions(sessions, tenant, waiting)
        assert [positions[r.id] for r in waiting] == list(range(1, len(waiting) + 1))
        # every waiter polls at once, several times, in a random order: nobody gets in
        polls = [r for r in waiting for _ in range(3)]
        random.shuffle(polls)
        results = await asyncio.gather(*(_attempt(sessions, r) for r in polls))
        assert not any(res.admitted for res in results)
        # one running execution ends (completed, failed, cancelled, timed out = failed)
        finished = sorted(running)[0]
        await _set_state(sessions, by_id[finished], ends[len(admitted_order) % 3])
        running.discard(finished)
        random.shuffle(polls)
        results = await asyncio.gather(*(_attempt(sessions, r) for r in polls))
        newly = {r.id for r, res in zip(polls, results, strict=True) if res.admitted}
        assert newly == {waiting[0].id}  # the head of the queue, and only it
        admitted_order.append(waiting[0].id)
        running.add(waiting[0].id)
    assert admitted_order == [r.id for r in rows]


async def test_a_retried_attempt_of_an_admitted_execution_keeps_its_slot(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    first, second = await _executions(sessions, tenant, 2)
    assert (await _attempt(sessions, first, default=1)).admitted
    assert (await _attempt(sessions, first, default=1)).admitted  # an activity retry
    assert not (await _attempt(sessions, second, default=1)).admitted


async def test_a_cancelled_waiter_frees_nothing_and_leaves_the_queue(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    running, waiter, behind = await _executions(sessions, tenant, 3)
    await _override(sessions, tenant, 1)
    for row in (running, waiter, behind):
        await _attempt(sessions, row)
    assert await _positions(sessions, tenant, [waiter, behind]) == {waiter.id: 1, behind.id: 2}
    await _set_state(sessions, waiter, FeatureState.CANCELLED)
    # the slot stays with the running execution; the one behind moves up but waits
    assert (await _attempt(sessions, behind)) == Admission(admitted=False, position=1, limit=1)
    async with sessions() as session:
        described = await AdmissionRepository(session).describe(tenant, None)
    assert (described.running, described.waiting) == (1, 1)
    await _set_state(sessions, running, FeatureState.COMPLETED)
    assert (await _attempt(sessions, behind)).admitted


async def test_a_waiter_that_stopped_polling_does_not_block_the_queue(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    running, gone, alive = await _executions(sessions, tenant, 3)
    await _override(sessions, tenant, 1)
    for row in (running, gone, alive):
        await _attempt(sessions, row)
    async with sessions.begin() as session:  # its workflow was terminated an hour ago
        await session.execute(
            text(
                "UPDATE execution_admissions SET polled_at = now() - interval '1 hour' "
                "WHERE feature_execution_id = :id"
            ),
            {"id": gone.id},
        )
    assert (await _attempt(sessions, alive)).position == 1
    await _set_state(sessions, running, FeatureState.COMPLETED)
    assert (await _attempt(sessions, alive)).admitted


async def test_limits_are_per_tenant_and_raising_one_admits_waiters_at_their_next_poll(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    small, other = uuid.uuid4(), uuid.uuid4()
    mine = await _executions(sessions, small, 3)
    theirs = await _executions(sessions, other, 3)
    await _override(sessions, small, 1)
    assert [(await _attempt(sessions, r, default=5)).admitted for r in mine] == [1, 0, 0]
    assert all([(await _attempt(sessions, r, default=5)).admitted for r in theirs])
    await _override(sessions, small, None)  # unlimited for this tenant
    assert all([(await _attempt(sessions, r, default=5)).admitted for r in mine[1:]])
    async with sessions.begin() as session:
        repo = AdmissionRepository(session)
        assert await repo.clear_override(small)
        assert not await repo.clear_override(small)
        assert (await repo.describe(small, 5)).effective == 5


async def test_an_execution_of_another_tenant_is_not_queued(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    (row,) = await _executions(sessions, uuid.uuid4(), 1)
    async with sessions.begin() as session:
        outcome = await AdmissionRepository(session).try_admit(uuid.uuid4(), row.id, 1)
    assert outcome == Admission(admitted=False, position=None, limit=1)


async def _age(
    sessions: async_sessionmaker[AsyncSession], row: FeatureExecutionRow, minutes: int
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE execution_admissions SET polled_at = now() - make_interval(mins => :age) "
                "WHERE feature_execution_id = :id"
            ),
            {"age": minutes, "id": row.id},
        )


async def test_a_slot_whose_lease_is_renewed_stays_held_and_an_abandoned_one_comes_free(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    running, waiter = await _executions(sessions, tenant, 2)
    await _override(sessions, tenant, 1)
    for row in (running, waiter):
        await _attempt(sessions, row)
    # ten minutes without a renewal is within the lease: still held
    await _age(sessions, running, 10)
    assert not (await _attempt(sessions, waiter)).admitted
    async with sessions.begin() as session:  # the run's lock refresh renews it
        await AdmissionRepository(session).renew(running.id)
    await _age(sessions, running, 14)
    assert not (await _attempt(sessions, waiter)).admitted
    # a run terminated through Temporal never ends and never renews: its slot comes free
    await _age(sessions, running, 20)
    assert (await _attempt(sessions, waiter)).admitted


async def test_a_released_row_holds_nothing_and_a_second_release_changes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    running, waiter = await _executions(sessions, tenant, 2)
    await _override(sessions, tenant, 1)
    for row in (running, waiter):
        await _attempt(sessions, row)
    for _ in range(2):  # record_state of the ending may be retried
        async with sessions.begin() as session:
            await AdmissionRepository(session).release(running.id)
    assert (await _attempt(sessions, waiter)).admitted


async def test_without_a_limit_admission_takes_no_tenant_lock_and_admits_a_queued_waiter(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tenant = uuid.uuid4()
    running, waiting, fresh = await _executions(sessions, tenant, 3)
    await _override(sessions, tenant, 1)
    assert (await _attempt(sessions, running)).admitted
    assert (await _attempt(sessions, waiting)).admitted is False  # queued behind the limit
    await _override(sessions, tenant, None)
    async with sessions.begin() as holder:
        # another admission of the tenant holds the lock; an unlimited one does not wait
        await holder.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"admission:{tenant}"},
        )
        admitted = await asyncio.wait_for(
            asyncio.gather(_attempt(sessions, waiting), _attempt(sessions, fresh)), timeout=5
        )
        # with a limit the attempt is serialised behind the holder
        await _override(sessions, tenant, 5)
        later = (await _executions(sessions, tenant, 1))[0]
        limited = asyncio.ensure_future(_attempt(sessions, later))
        await asyncio.sleep(0.3)
        assert not limited.done()
    assert (await limited).admitted
    assert [a.admitted for a in admitted] == [True, True]
    assert await _positions(sessions, tenant, [waiting, fresh]) == {}

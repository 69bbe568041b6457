"""Distributed locks: one winner, takeover after the TTL with a larger fencing token, and
stale owners locked out."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import NotFound, ValidationFailed
from persistence.locks import Lease, Locks
from persistence.uow import UnitOfWork
from tests.integration.persistence.factories import committed_execution

TTL = timedelta(seconds=1)
LONG = timedelta(seconds=30)


def _key() -> str:
    return f"repo-{uuid.uuid4()}:feature/x"


async def test_two_owners_racing_for_one_lock_exactly_one_wins(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    locks, key = Locks(sessions), _key()
    for _ in range(5):
        key = _key()
        results = await asyncio.gather(
            *(locks.acquire(key, f"owner-{i}", execution.id, LONG) for i in range(8))
        )
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert await locks.is_held(key, winners[0].owner_id)
        assert await locks.holder(key) == winners[0]


async def test_after_the_ttl_another_owner_takes_over_and_the_stale_owner_is_locked_out(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    locks, key = Locks(sessions), _key()
    first = await locks.acquire(key, "alice", execution.id, TTL)
    assert first is not None
    assert await locks.acquire(key, "bob", execution.id, TTL) is None
    await asyncio.sleep(1.2)
    assert not await locks.is_held(key, "alice")
    second = await locks.acquire(key, "bob", execution.id, LONG)
    assert second is not None and second.fencing_token > first.fencing_token
    assert not await locks.refresh(key, "alice", first.fencing_token, LONG)
    assert not await locks.release(key, "alice", first.fencing_token)
    assert await locks.is_held(key, "bob")
    assert await locks.holder(key) == second


async def test_only_the_owner_with_the_current_token_refreshes_and_releases(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    locks, key = Locks(sessions), _key()
    lease = await locks.acquire(key, "alice", execution.id, TTL)
    assert lease is not None
    assert not await locks.refresh(key, "mallory", lease.fencing_token, LONG)
    assert not await locks.refresh(key, "alice", lease.fencing_token - 1, LONG)
    assert await locks.refresh(key, "alice", lease.fencing_token, LONG)
    await asyncio.sleep(1.1)
    # the refresh pushed expiry past the original one-second TTL
    assert await locks.is_held(key, "alice")
    assert await locks.acquire(key, "bob", execution.id, TTL) is None
    assert not await locks.release(key, "mallory", lease.fencing_token)
    assert await locks.release(key, "alice", lease.fencing_token)
    assert not await locks.is_held(key, "alice")
    assert not await locks.release(key, "alice", lease.fencing_token)
    assert await locks.acquire(key, "bob", execution.id, TTL) is not None


async def test_reacquiring_by_the_same_owner_extends_with_a_new_larger_token(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    locks, key = Locks(sessions), _key()
    first = await locks.acquire(key, "alice", execution.id, TTL)
    again = await locks.acquire(key, "alice", execution.id, LONG)
    assert first is not None and again is not None
    assert again.fencing_token > first.fencing_token and again.expires_at > first.expires_at
    assert not await locks.refresh(key, "alice", first.fencing_token, LONG)


async def test_purge_expired_removes_only_lapsed_leases(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    locks = Locks(sessions)
    short, long = _key(), _key()
    assert await locks.acquire(short, "a", execution.id, timedelta(milliseconds=200))
    assert await locks.acquire(long, "b", execution.id, LONG)
    await asyncio.sleep(0.3)
    assert await locks.purge_expired() >= 1
    assert await locks.holder(short) is None
    assert await locks.is_held(long, "b")


async def test_a_lock_taken_inside_a_unit_of_work_is_invisible_until_commit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    execution = await committed_execution(sessions)
    locks, key = Locks(sessions), _key()
    async with UnitOfWork(sessions) as uow:
        lease = await uow.locks.acquire(key, "alice", execution.id, LONG)
        assert isinstance(lease, Lease)
        assert await uow.locks.is_held(key, "alice")
        assert await locks.holder(key) is None
    # rolled back: nobody holds it
    assert await locks.holder(key) is None
    async with UnitOfWork(sessions) as uow:
        assert await uow.locks.acquire(key, "alice", execution.id, LONG)
        await uow.commit()
    assert await locks.is_held(key, "alice")


async def test_bad_ttl_and_unknown_execution_are_refused_clearly(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    locks, missing = Locks(sessions), uuid.uuid4()
    with pytest.raises(ValidationFailed, match="ttl must be positive"):
        await locks.acquire(_key(), "a", missing, timedelta(0))
    async with UnitOfWork(sessions) as uow:
        with pytest.raises(NotFound, match=str(missing)):
            await uow.locks.acquire(_key(), "a", missing, LONG)
        # the savepoint kept the transaction usable
        assert await uow.locks.holder(_key()) is None

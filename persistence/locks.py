"""Distributed locks: leases on a key with a TTL from the database clock and a fencing token.

Every acquire takes a new token from `distributed_lock_fencing_seq`, so a holder whose lease
lapsed and was taken over carries a smaller token than the new holder and can neither
refresh nor release. Each statement is one round trip.

`LockRepository` works inside the caller's transaction: nothing is visible to other owners
until the caller's unit of work commits. `Locks` runs every operation in its own short
transaction, which is what an activity usually wants for acquire/refresh/release.

Times use `clock_timestamp()` rather than `now()`: both are the database clock, but `now()`
is frozen at the start of the transaction and would misjudge expiry in a long one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Interval, String, bindparam, text
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.errors import FieldError, NotFound, ValidationFailed

_UUID = PgUUID(as_uuid=True)

_ACQUIRE = text(
    """
INSERT INTO distributed_locks AS l
    (lock_key, owner_id, feature_id, acquired_at, expires_at, fencing_token)
SELECT :lock_key, :owner_id, f.id, clock_timestamp(), clock_timestamp() + :ttl,
       nextval('distributed_lock_fencing_seq')
FROM feature_executions f WHERE f.id = :feature_id
ON CONFLICT (lock_key) DO UPDATE SET
    owner_id = excluded.owner_id,
    feature_id = excluded.feature_id,
    acquired_at = excluded.acquired_at,
    expires_at = excluded.expires_at,
    fencing_token = excluded.fencing_token
WHERE l.expires_at < clock_timestamp() OR l.owner_id = excluded.owner_id
RETURNING lock_key, owner_id, fencing_token, expires_at
"""
).bindparams(
    bindparam("lock_key", type_=String),
    bindparam("owner_id", type_=String),
    bindparam("feature_id", type_=_UUID),
    bindparam("ttl", type_=Interval),
)

# A current token proves nobody took the lease over, so a lapsed one may still be extended.
_REFRESH = text(
    """
UPDATE distributed_locks SET expires_at = clock_timestamp() + :ttl
WHERE lock_key = :lock_key AND owner_id = :owner_id AND fencing_token = :fencing_token
RETURNING lock_key, owner_id, fencing_token, expires_at
"""
).bindparams(bindparam("ttl", type_=Interval))

_RELEASE = text(
    """
DELETE FROM distributed_locks
WHERE lock_key = :lock_key AND owner_id = :owner_id AND fencing_token = :fencing_token
RETURNING lock_key
"""
)

_IS_HELD = text(
    """
SELECT 1 FROM distributed_locks
WHERE lock_key = :lock_key AND owner_id = :owner_id AND expires_at > clock_timestamp()
"""
)

_HOLDER = text(
    """
SELECT lock_key, owner_id, fencing_token, expires_at FROM distributed_locks
WHERE lock_key = :lock_key AND expires_at > clock_timestamp()
"""
)

_EXECUTION = text("SELECT 1 FROM feature_executions WHERE id = :id").bindparams(
    bindparam("id", type_=_UUID)
)

_PURGE = text("DELETE FROM distributed_locks WHERE expires_at < clock_timestamp()")


@dataclass(frozen=True)
class Lease:
    """A held lock. Pass `fencing_token` to every guarded write so stale holders lose."""

    lock_key: str
    owner_id: str
    fencing_token: int
    expires_at: datetime


def _check_ttl(ttl: timedelta) -> None:
    if ttl <= timedelta(0):
        raise ValidationFailed([FieldError("ttl", f"ttl must be positive, got {ttl}")])


class LockRepository:
    """Lock operations inside the caller's transaction (the unit of work commits them)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def acquire(
        self, lock_key: str, owner_id: str, feature_id: uuid.UUID, ttl: timedelta
    ) -> Lease | None:
        """Take the lock, or take over an expired one, with a new, larger fencing token.

        The same owner re-acquiring gets a new token and a fresh TTL. None when another
        owner's lease is live. NotFound when `feature_id` is not an execution.
        """
        _check_ttl(ttl)
        conn = await self.session.connection()
        params = {"lock_key": lock_key, "owner_id": owner_id, "feature_id": feature_id, "ttl": ttl}
        # selecting the execution instead of VALUES: an unknown id inserts nothing rather
        # than failing the caller's transaction on the foreign key
        row = (await conn.execute(_ACQUIRE, params)).first()
        if row is None and (await conn.execute(_EXECUTION, {"id": feature_id})).first() is None:
            raise NotFound(f"feature execution {feature_id} not found")
        return None if row is None else Lease(*row)

    async def refresh(
        self, lock_key: str, owner_id: str, fencing_token: int, ttl: timedelta
    ) -> bool:
        """Extend the lease; False unless this owner still holds it with this token."""
        _check_ttl(ttl)
        conn = await self.session.connection()
        params = {
            "lock_key": lock_key,
            "owner_id": owner_id,
            "fencing_token": fencing_token,
            "ttl": ttl,
        }
        return (await conn.execute(_REFRESH, params)).first() is not None

    async def release(self, lock_key: str, owner_id: str, fencing_token: int) -> bool:
        """Drop the lease; False unless this owner holds it with this token."""
        conn = await self.session.connection()
        params = {"lock_key": lock_key, "owner_id": owner_id, "fencing_token": fencing_token}
        return (await conn.execute(_RELEASE, params)).first() is not None

    async def is_held(self, lock_key: str, owner_id: str) -> bool:
        """True while `owner_id` holds a live (unexpired) lease on the key."""
        conn = await self.session.connection()
        params = {"lock_key": lock_key, "owner_id": owner_id}
        return (await conn.execute(_IS_HELD, params)).first() is not None

    async def holder(self, lock_key: str) -> Lease | None:
        """The live lease on the key, whoever holds it."""
        conn = await self.session.connection()
        row = (await conn.execute(_HOLDER, {"lock_key": lock_key})).first()
        return None if row is None else Lease(*row)

    async def purge_expired(self) -> int:
        """Delete every expired lease; returns how many."""
        conn = await self.session.connection()
        return (await conn.execute(_PURGE)).rowcount


class Locks:
    """The same operations, each committed in its own short transaction."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def acquire(
        self, lock_key: str, owner_id: str, feature_id: uuid.UUID, ttl: timedelta
    ) -> Lease | None:
        async with self._sessions.begin() as session:
            return await LockRepository(session).acquire(lock_key, owner_id, feature_id, ttl)

    async def refresh(
        self, lock_key: str, owner_id: str, fencing_token: int, ttl: timedelta
    ) -> bool:
        async with self._sessions.begin() as session:
            return await LockRepository(session).refresh(lock_key, owner_id, fencing_token, ttl)

    async def release(self, lock_key: str, owner_id: str, fencing_token: int) -> bool:
        async with self._sessions.begin() as session:
            return await LockRepository(session).release(lock_key, owner_id, fencing_token)

    async def is_held(self, lock_key: str, owner_id: str) -> bool:
        async with self._sessions() as session:
            return await LockRepository(session).is_held(lock_key, owner_id)

    async def holder(self, lock_key: str) -> Lease | None:
        async with self._sessions() as session:
            return await LockRepository(session).holder(lock_key)

    async def purge_expired(self) -> int:
        async with self._sessions.begin() as session:
            return await LockRepository(session).purge_expired()

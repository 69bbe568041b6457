"""What the API needs from the outside world, passed in by the composition root (or tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.config import ApiConfig
from api.ports import RemoteProbe
from persistence.artifacts.store import ArtifactStore
from persistence.vault import Keyring

TemporalClientProvider = Callable[[], Awaitable[Client]]
"""Returns a connected client; raises when Temporal cannot be reached."""


@dataclass
class ApiDeps:
    """Session factory, Temporal client provider, artifact store, keyring and limits.

    `remote_probe` validates credentials against their remote; without one, validation
    answers 503 (the composition root always sets it).
    """

    sessions: async_sessionmaker[AsyncSession]
    temporal: TemporalClientProvider
    artifacts: ArtifactStore
    keyring: Keyring
    database_url: str
    config: ApiConfig = field(default_factory=ApiConfig)
    remote_probe: RemoteProbe | None = None


class LazyTemporalClient:
    """Connects on first use and keeps the client, so the API starts while Temporal is down.

    A failed connect is not cached: the next request tries again.
    """

    def __init__(
        self,
        address: str,
        namespace: str = "default",
        *,
        connect: Callable[[], Awaitable[Client]] | None = None,
    ) -> None:
        self.address = address
        self.namespace = namespace
        # the composition root passes builder.temporal_connection.connect (TLS, API key,
        # tracing); without it a plaintext connection to `address`
        self._connect = connect
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None and self._connect is not None:
                self._client = await self._connect()
            elif self._client is None:
                self._client = await Client.connect(
                    self.address,
                    namespace=self.namespace,
                    data_converter=pydantic_data_converter,
                )
            return self._client

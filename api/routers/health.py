"""/healthz (the process is up) and /readyz (Postgres, Temporal and the artifact store answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.problems import ApiProblem, problem_responses
from api.services import Services, Svc

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Status of the process or of its dependencies."""

    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


async def _postgres(svc: Services) -> None:
    async with svc.deps.sessions() as session:
        await session.execute(text("SELECT 1"))


async def _temporal(svc: Services) -> None:
    client = await svc.deps.temporal()
    await client.service_client.check_health()


async def _artifacts(svc: Services) -> None:
    await svc.deps.artifacts.exists("readiness-probe")


@router.get(
    "/readyz",
    response_model=Health,
    responses=problem_responses(503),
    summary="Postgres, Temporal and the artifact store are reachable",
)
async def readyz(svc: Svc) -> Health:
    probes: dict[str, Callable[[Services], Awaitable[None]]] = {
        "postgres": _postgres,
        "temporal": _temporal,
        "artifact_store": _artifacts,
    }
    timeout = svc.deps.config.readiness_timeout_seconds

    async def run(probe: Callable[[Services], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(probe(svc), timeout=timeout)
        except Exception as exc:
            return f"down ({type(exc).__name__})"
        return "ok"

    results = await asyncio.gather(*(run(p) for p in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    down = [name for name, result in checks.items() if result != "ok"]
    if down:
        raise ApiProblem(
            503,
            "not-ready",
            "Not ready",
            "unreachable: " + ", ".join(f"{n} {checks[n]}" for n in down),
        )
    return Health(status="ok", checks=checks)

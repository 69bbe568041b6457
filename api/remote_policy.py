"""The remote URL policy at the API's edge: domain rules, this deployment's policy, and the
system resolver run off the event loop. A refusal names the field and never the URL."""

from __future__ import annotations

import asyncio
import socket

from api.problems import ApiProblem
from domain.errors import FieldError, PolicyViolation
from domain.remote_urls import RemotePolicy, check_remote_url


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):  # UnicodeError: a label IDNA cannot encode
        return []  # unresolvable: the worker's transport will fail on its own
    return [str(info[4][0]) for info in infos]


async def check_repository_url(url: str, policy: RemotePolicy) -> None:
    """422 policy-violation on field `url` when `policy` refuses it."""
    try:
        # resolving the host is blocking I/O: keep it off the event loop
        await asyncio.to_thread(check_remote_url, url, policy, _resolve)
    except PolicyViolation as refused:
        raise ApiProblem(
            422,
            "policy-violation",
            "Policy violation",
            refused.message,
            errors=[FieldError("url", f"url: {refused.message}")],
        ) from None

"""One webhook POST: to the checked address, within a time limit, reading at most a bounded
part of the answer, which is kept only as a short redacted excerpt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from activities.webhooks.destinations import Destination

USER_AGENT = "builder-webhooks/1"


@dataclass(frozen=True)
class SendResult:
    """How the receiver answered, if it did."""

    outcome: str  # delivered, failed, timeout, error
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    gone: bool = False


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _excerpt(raw: bytes, limit: int, secrets: Sequence[str]) -> str | None:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def post(
    client: httpx.AsyncClient,
    destination: Destination,
    headers: dict[str, str],
    body: bytes,
    *,
    timeout_seconds: float,
    max_response_bytes: int,
    excerpt_chars: int,
    redact: Sequence[str] = (),
) -> SendResult:
    """POST `body`; never raises for what the receiver or the network does."""
    started = time.monotonic()
    request_headers = {
        **headers,
        "Host": destination.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    extensions = {"sni_hostname": destination.host} if destination.url.startswith("https") else {}

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        async with asyncio.timeout(timeout_seconds):
            async with client.stream(
                "POST",
                destination.pinned_url,
                content=body,
                headers=request_headers,
                extensions=extensions,
            ) as response:
                raw = b""
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) >= max_response_bytes:
                        break  # enough to show what the receiver said
    except TimeoutError:
        return SendResult("timeout", elapsed(), error=f"no answer within {timeout_seconds:g}s")
    except httpx.TimeoutException:
        return SendResult("timeout", elapsed(), error=f"no answer within {timeout_seconds:g}s")
    except httpx.HTTPError as err:
        return SendResult(
            "error", elapsed(), error=f"{type(err).__name__} talking to {destination.host}"
        )
    status = response.status_code
    excerpt = _excerpt(raw[:max_response_bytes], excerpt_chars, redact)
    if 200 <= status < 300:
        return SendResult("delivered", elapsed(), status, excerpt=excerpt)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed; point the subscription at the new URL"
    else:
        error = f"HTTP {status}"
    return SendResult(
        "failed",
        elapsed(),
        status,
        error=error,
        excerpt=excerpt,
        retry_after=_retry_after(response.headers.get("retry-after")),
        gone=status == 410,
    )

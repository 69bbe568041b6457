"""The HTTP layer every forge client shares: one async httpx client, bounded reads,
pagination links, and provider responses mapped to domain errors.

- 429, and 403 that carries rate-limit headers or says so, become ForgeRateLimited with
  the server's delay (`Retry-After`, else `X-RateLimit-Reset`/`RateLimit-Reset`).
- 401 and other 403s become ForgeAuthFailed naming the provider and the permission needed.
- 404 becomes ForgeNotFound; 400/409/422 ForgeRequestRejected with the provider's message.
- 5xx and transport failures become ForgeUnavailable (retryable).
Every body is read to at most `max_response_bytes`; every message is redacted of the
credential's secrets; redirects are not followed (credentials stay on the API host).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from activities.forges.auth import SCOPES
from activities.forges.errors import (
    ForgeAuthFailed,
    ForgeNotFound,
    ForgeRateLimited,
    ForgeRequestRejected,
    ForgeUnavailable,
)
from activities.forges.model import ForgeKind
from activities.retry_after import retry_after_seconds
from domain.errors import RepositoryAccessError

_LINK = re.compile(r'<([^>]+)>\s*;\s*(?:[^,]*?;\s*)?rel="?([^",;]+)"?')
_EXCERPT = 300


@dataclass(frozen=True)
class ForgeHttpConfig:
    """Limits of forge API calls."""

    timeout_seconds: float = 30.0
    max_response_bytes: int = 4 * 1024 * 1024
    # items asked for per page (each provider caps it: GitHub/GitLab/Azure 100, Gitea 50)
    page_size: int = 50
    max_pages: int = 100
    # when a rate limit names no delay, and the most we wait on the server's word
    default_rate_limit_delay: float = 60.0
    max_rate_limit_delay: float = 3600.0
    user_agent: str = "builder (+https://builder.dev)"


@dataclass(frozen=True)
class ForgeResponse:
    """A response whose body was read within the limit."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str

    def json(self) -> Any:
        if not self.content:
            return None
        try:
            return json.loads(self.content)
        except ValueError:
            raise RepositoryAccessError(
                f"{self.url} answered HTTP {self.status} with a body that is not JSON"
            ) from None


def next_link(headers: httpx.Headers) -> str | None:
    """The rel="next" target of an RFC 8288 Link header (GitHub, Gitea, GitLab)."""
    for target, rel in _LINK.findall(headers.get("link", "")):
        if "next" in rel.split():
            return str(target)
    return None


def provider_message(body: Any) -> str:
    """The human message of an error body in any of the six providers' shapes."""
    if isinstance(body, str):
        return body
    if not isinstance(body, Mapping):
        return ""
    parts: list[str] = []
    message = body.get("message")
    if isinstance(message, str):
        parts.append(message)
    elif isinstance(message, list):  # GitLab: ["Another open merge request ..."]
        parts.extend(str(m) for m in message)
    elif isinstance(message, Mapping):  # GitLab: {"field": ["is invalid"]}
        parts.extend(
            f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in message.items()
        )
    error = body.get("error")
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):  # Bitbucket Cloud
        parts.append(error["message"])
    elif isinstance(error, str) and not parts:
        parts.append(error)
    errors = body.get("errors")
    if isinstance(errors, list):  # GitHub validation errors, Bitbucket DC
        for item in errors:
            if isinstance(item, Mapping) and item.get("message"):
                parts.append(str(item["message"]))
            elif isinstance(item, str):
                parts.append(item)
    return "; ".join(p for p in parts if p)


class ForgeHttp:
    """Authenticated JSON calls to one forge API root."""

    def __init__(
        self,
        kind: ForgeKind,
        api_root: str,
        headers: Mapping[str, str],
        *,
        secrets: Sequence[str] = (),
        config: ForgeHttpConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.kind = kind
        self.api_root = api_root.rstrip("/")
        self.config = config or ForgeHttpConfig()
        self._secrets = [s for s in secrets if s]
        origin = urlsplit(self.api_root)
        self._origin = (origin.scheme, origin.netloc)
        self._client = httpx.AsyncClient(
            headers={
                **headers,
                "User-Agent": self.config.user_agent,
                "Accept": "application/json",
            },
            timeout=self.config.timeout_seconds,
            follow_redirects=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.api_root}/{path.lstrip('/')}"

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def same_origin(self, url: str) -> str:
        """A pagination link, refused when it leaves the API host (credentials stay put)."""
        absolute = urljoin(self.api_root + "/", url)
        parts = urlsplit(absolute)
        if (parts.scheme, parts.netloc) != self._origin:
            raise RepositoryAccessError(
                f"{self.kind.display_name} pointed a page link at another host "
                f"({parts.netloc}); not following it with the credential"
            )
        return absolute

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> ForgeResponse:
        """One call; any non-2xx status raises the matching domain error."""
        url = self.url(path)
        what = f"{method} {urlsplit(url).path}"
        try:
            async with self._client.stream(
                method, url, params=params, json=json_body, headers=headers
            ) as response:
                content = await self._read(response, what)
        except httpx.TimeoutException:
            raise ForgeUnavailable(
                f"{self.kind.display_name} did not answer {what} within "
                f"{self.config.timeout_seconds:g}s"
            ) from None
        except httpx.TransportError as err:
            raise ForgeUnavailable(
                f"could not reach the {self.kind.display_name} API at "
                f"{self._origin[1]} ({type(err).__name__})"
            ) from None
        result = ForgeResponse(response.status_code, response.headers, content, str(response.url))
        if 200 <= result.status < 300 and not self._sign_in_page(result):
            return result
        raise self._failure(result, what)

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Any:
        return (await self.send(method, path, params=params, json_body=json_body)).json()

    async def _read(self, response: httpx.Response, what: str) -> bytes:
        limit = self.config.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise RepositoryAccessError(
                    f"{self.kind.display_name} answered {what} with more than {limit} bytes; "
                    "not reading further"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _sign_in_page(self, response: ForgeResponse) -> bool:
        # Azure DevOps answers a bad PAT with 203 and an HTML sign-in page
        return response.status == 203 or (
            "text/html" in response.headers.get("content-type", "")
            and self.kind == ForgeKind.AZURE_DEVOPS
        )

    def _message(self, response: ForgeResponse) -> tuple[str, Any]:
        body: Any = None
        text = ""
        if response.content:
            try:
                body = json.loads(response.content)
                text = provider_message(body)
            except ValueError:
                if "html" not in response.headers.get("content-type", ""):
                    text = response.content[:_EXCERPT].decode("utf-8", "replace")
        text = " ".join(self.redact(text).split())[:_EXCERPT]
        return text, body

    def _failure(self, response: ForgeResponse, what: str) -> Exception:
        name = self.kind.display_name
        status = response.status
        text, body = self._message(response)
        said = f": {text}" if text else ""
        details = {"status": status, "provider": self.kind.value}
        if status == 429 or (status == 403 and self._rate_limited(response, text)):
            delay = self.retry_delay(response.headers)
            return ForgeRateLimited(
                f"{name} rate-limited {what} (HTTP {status}); retrying in {delay:g}s{said}",
                retry_after_seconds=delay,
                details={**details, "retry_after_seconds": delay},
            )
        if status == 401 or self._sign_in_page(response):
            return ForgeAuthFailed(
                f"{name} rejected the credential for {what} (HTTP {status}): the token is "
                f"wrong, expired or revoked; {name} needs {SCOPES[self.kind]}{said}",
                details=details,
            )
        if status == 403:
            return ForgeAuthFailed(
                f"{name} refused {what} (HTTP 403): the credential lacks a permission; "
                f"{name} needs {SCOPES[self.kind]}{said}",
                details=details,
            )
        if status == 404:
            return ForgeNotFound(
                f"{name} answered 404 for {what}: the repository does not exist at "
                f"{self.api_root}, or the credential cannot see it (check the repository's "
                f"forge_api_url / forge_project properties and the token's access){said}",
                details=details,
            )
        if 300 <= status < 400:
            where = response.headers.get("location", "")
            return ForgeNotFound(
                f"{name} redirected {what} (HTTP {status}) to {self.redact(where)[:200]}; "
                "set the repository's forge_api_url to the API's current address",
                details=details,
            )
        if status >= 500 or status == 408:
            retry = response.headers.get("retry-after")
            failure = ForgeUnavailable(
                f"{name} failed {what} (HTTP {status}){said}", details=details
            )
            if retry:
                failure.retry_after_seconds = self.retry_delay(response.headers)
            return failure
        return ForgeRequestRejected(
            f"{name} rejected {what} (HTTP {status}){said or ': no reason given'}",
            status=status,
            provider_message=text,
            body=body,
            details=details,
        )

    def _rate_limited(self, response: ForgeResponse, text: str) -> bool:
        headers = response.headers
        remaining = headers.get("x-ratelimit-remaining") or headers.get("ratelimit-remaining")
        return "retry-after" in headers or remaining == "0" or "rate limit" in text.lower()

    def retry_delay(self, headers: httpx.Headers) -> float:
        """Seconds the server asked us to wait (activities/retry_after.py), else the configured
        default; within [1, max]."""
        delay = retry_after_seconds(headers)
        if delay is None:
            delay = self.config.default_rate_limit_delay
        return float(min(max(delay, 1.0), self.config.max_rate_limit_delay))

"""The CLI's HTTP side: the API key, a thin synchronous JSON client, problem documents as
one-line errors with their exit code, and the Server-Sent Events stream of an execution."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from builder.cli.exits import ExitCode, exit_code_for_status

DEFAULT_API_URL = "http://127.0.0.1:8000"
TERMINAL_EVENTS = frozenset({"execution.completed", "execution.failed", "execution.cancelled"})


def cli_error(message: str, code: ExitCode = ExitCode.USAGE) -> Exception:
    from builder.cli import CliError

    return CliError(message, code)


def resolve_api_key(explicit: str | None, environ: dict[str, str] | None = None) -> str:
    """--api-key, else BUILDER_API_KEY, else the dev stack's `<state>/dev-api-key`."""
    env = os.environ if environ is None else environ
    if explicit:
        return explicit
    if env.get("BUILDER_API_KEY"):
        return env["BUILDER_API_KEY"]
    state = Path(env.get("BUILDER_STATE_DIR") or Path.home() / ".builder")
    key_file = state / "dev-api-key"
    if key_file.is_file():
        return key_file.read_text().strip()
    raise cli_error(
        "no API key: pass --api-key, set BUILDER_API_KEY, or start `builder dev` "
        f"(which writes {key_file})",
        ExitCode.AUTH,
    )


def format_problem(response: httpx.Response) -> str:
    """One line for an error response: `<title>: <detail>` plus each field error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "title" not in body:
        text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
        return f"HTTP {response.status_code}" + (f": {text}" if text else "")
    line = str(body["title"])
    if body.get("detail"):
        line += f": {body['detail']}"
    errors = body.get("errors") or []
    if errors:
        line += " (" + "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors) + ")"
    return line


def problem_error(response: httpx.Response) -> Exception:
    """The CliError an error response becomes: its one line and its status's exit code."""
    return cli_error(format_problem(response), exit_code_for_status(response.status_code))


class ApiClient:
    """A thin synchronous client: JSON in, JSON out, problems raised as CliError."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "builder-cli"},
            timeout=timeout,
            follow_redirects=True,  # httpx drops Authorization on cross-origin redirects
        )

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        response = self._send(method, path, body=body, params=params, headers=headers)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def raw(self, path: str) -> httpx.Response:
        return self._send("GET", path)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = self.http.request(method, path, json=body, params=params, headers=headers)
        except httpx.TransportError as err:
            raise self._unreachable(err) from None
        if response.status_code >= 400:
            raise problem_error(response)
        return response

    def _unreachable(self, err: Exception) -> Exception:
        return cli_error(
            f"cannot reach the API at {self.base_url} ({type(err).__name__}); "
            "is `builder dev` running, or is --api-url right?",
            ExitCode.UNAVAILABLE,
        )

    def stream_events(self, execution_id: str, after: int = 0) -> Iterator[SseEvent]:
        """Events from the SSE stream, reconnecting after `Last-Event-ID` when it drops,
        until the terminal event."""
        failures = 0
        while True:
            try:
                with self.http.stream(
                    "GET",
                    f"/v1/executions/{execution_id}/events/stream",
                    headers={"Last-Event-ID": str(after), "Accept": "text/event-stream"},
                    timeout=httpx.Timeout(30.0, read=None),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise problem_error(response)
                    for event in parse_sse(response.iter_lines()):
                        failures = 0
                        if event.id is not None:
                            after = event.id
                        yield event
                        if event.type in TERMINAL_EVENTS:
                            return
            except httpx.TransportError as err:
                failures += 1
                if failures > 5:
                    raise self._unreachable(err) from None
                continue
            # the server ends the stream only after the terminal event or for a finished
            # execution: nothing more will come
            return


@dataclass
class SseEvent:
    """One Server-Sent Event: `id` is the event's sequence number, `data` its JSON."""

    id: int | None = None
    type: str = "message"
    data: Any = None


def parse_sse(lines: Iterable[str]) -> Iterator[SseEvent]:
    """Frames from SSE lines; comments (heartbeats) are skipped."""
    event = SseEvent()
    data: list[str] = []
    seen = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if seen:
                text = "\n".join(data)
                try:
                    event.data = json.loads(text) if text else None
                except ValueError:
                    event.data = text
                yield event
            event, data, seen = SseEvent(), [], False
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        seen = True
        if name == "id":
            try:
                event.id = int(value)
            except ValueError:
                event.id = None
        elif name == "event":
            event.type = value
        elif name == "data":
            data.append(value)

"""The client half of `builder`: repositories, credentials and executions over the HTTP API.

It speaks only HTTP (it never imports the server), so it works against `builder dev` and a
production deployment alike. Output is for people by default and JSON with `--json`;
problem documents print as one line `builder: <title>: <detail>` and exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"
TERMINAL_EVENTS = frozenset({"execution.completed", "execution.failed", "execution.cancelled"})
TERMINAL_STATES = frozenset({"completed", "failed", "cancelled"})


def _cli_error(message: str) -> Exception:
    from builder.cli import CliError

    return CliError(message)


# --- connection -----------------------------------------------------------------------


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
    raise _cli_error(
        "no API key: pass --api-key, set BUILDER_API_KEY, or start `builder dev` "
        f"(which writes {key_file})"
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
            raise _cli_error(format_problem(response))
        return response

    def _unreachable(self, err: Exception) -> Exception:
        return _cli_error(
            f"cannot reach the API at {self.base_url} ({type(err).__name__}); "
            "is `builder dev` running, or is --api-url right?"
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
                        raise _cli_error(format_problem(response))
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


# --- the event stream -----------------------------------------------------------------


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


@dataclass
class ProgressView:
    """Shows an execution's progress from its events: a redrawn bar on a terminal, one
    plain line per event otherwise (logs, CI)."""

    out: IO[str]
    tty: bool | None = None
    total: int = 0
    done: int = 0
    phase: str = "pending"
    current: str = ""
    _drawn: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.tty is None:
            self.tty = bool(getattr(self.out, "isatty", lambda: False)())

    def on_event(self, event: SseEvent) -> None:
        payload = (event.data or {}).get("payload", {}) if isinstance(event.data, dict) else {}
        line = self._apply(event.type, payload)
        if self.tty:
            self._draw()
        elif line:
            print(line, file=self.out, flush=True)

    def _apply(self, kind: str, payload: dict[str, Any]) -> str | None:
        if kind == "execution.state_changed":
            self.phase = str(payload.get("to") or payload.get("state") or self.phase)
            return f"state: {self.phase}"
        if kind == "plan.created":
            self.total = len(payload.get("steps") or [])
            return f"plan: {self.total} step(s)"
        if kind == "plan.approval_requested":
            return "plan awaits approval: builder approve <id> (or --reject)"
        if kind == "step.started":
            self.current = str(payload.get("description") or "")
            return (
                f"step {int(payload.get('step_index', 0)) + 1}/{self.total} started: {self.current}"
            )
        if kind == "step.completed":
            self.done += 1
            return f"step {self.done}/{self.total} completed"
        if kind == "step.failed":
            return f"step failed: {payload.get('error') or payload}"
        if kind in ("build.completed", "test.completed", "push.completed"):
            return kind.replace(".", " ")
        if kind in TERMINAL_EVENTS:
            self.phase = kind.split(".", 1)[1]
            return f"execution {self.phase}"
        return None

    def _draw(self) -> None:
        width = 24
        filled = int(width * self.done / self.total) if self.total else 0
        bar = "#" * filled + "-" * (width - filled)
        text = f"[{bar}] {self.done}/{self.total or '?'} steps  {self.phase}  {self.current}"
        self.out.write("\r\x1b[K" + text[:120])
        self.out.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()


# --- argument helpers -----------------------------------------------------------------


def parse_property(text: str) -> tuple[str, Any]:
    """`k=v`; v is read as JSON when it parses (numbers, booleans), else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise _cli_error(f"--property must look like key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def parse_change(text: str) -> dict[str, Any]:
    try:
        change = json.loads(text)
    except json.JSONDecodeError as err:
        raise _cli_error(f"--change is not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(change, dict) or "op" not in change:
        raise _cli_error(f'--change must be a JSON object with an "op", got {text[:80]!r}')
    return change


SPEC_FIELDS = (
    "title",
    "description",
    "target_branch",
    "constraints",
    "properties",
    "engine",
    "changes",
    "requested_by",
    "correlation_id",
)


def load_spec(path: str) -> dict[str, Any]:
    """A spec file (JSON, or YAML by extension) with `changes` and/or request fields."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as err:
        raise _cli_error(f"cannot read spec file {path}: {err.strerror}") from None
    try:
        if file.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:
        raise _cli_error(f"spec file {path} does not parse: {err}") from None
    if isinstance(data, list):
        data = {"changes": data}
    if not isinstance(data, dict):
        raise _cli_error(f"spec file {path} must hold an object or a list of changes")
    unknown = sorted(set(data) - set(SPEC_FIELDS))
    if unknown:
        raise _cli_error(
            f"spec file {path} has unknown fields {', '.join(unknown)}; "
            f"allowed: {', '.join(SPEC_FIELDS)}"
        )
    return data


def execution_request(args: argparse.Namespace, repository_id: str) -> dict[str, Any]:
    """The POST /v1/executions body: the spec file, then flags on top of it."""
    body: dict[str, Any] = load_spec(args.spec) if args.spec else {}
    body["repository_id"] = repository_id
    for name in ("title", "description", "target_branch"):
        value = getattr(args, name)
        if value is not None:
            body[name] = value
    changes = list(body.get("changes") or [])
    changes += [parse_change(c) for c in args.change or []]
    if changes:
        body["changes"] = changes
    missing = [f"--{f}" for f in ("title", "description") if not body.get(f)]
    if missing:
        raise _cli_error(f"{' and '.join(missing)} required (as flags or in the spec file)")
    return body


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def find_repository(api: ApiClient, ref: str) -> dict[str, Any]:
    """A repository by id, or else by its (unique per tenant) name."""
    if _is_uuid(ref):
        return api.request("GET", f"/v1/repositories/{ref}")
    offset = 0
    while True:
        page = api.request("GET", "/v1/repositories", params={"limit": 100, "offset": offset})
        for repo in page["items"]:
            if repo["name"] == ref:
                return repo
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            raise _cli_error(f"no repository named {ref!r} (see `builder repos list`)")


# --- output ---------------------------------------------------------------------------


def _emit(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(human(data))


def _repo_line(repo: dict[str, Any]) -> str:
    cred = repo.get("credential")
    return (
        f"{repo['id']}  {repo['name']}  {repo['url']}  ({repo['default_branch']}, "
        f"{repo['state']}, credential: {cred['type'] if cred else 'none'})"
    )


def execution_summary(ex: dict[str, Any]) -> str:
    lines = [
        f"execution {ex['id']}: {ex['state']}",
        f"  title:   {ex['title']}",
        f"  branch:  {ex.get('feature_branch') or '-'} (onto {ex['target_branch']})",
    ]
    progress = ex.get("progress")
    if progress:
        lines.append(
            f"  steps:   {progress['completed_steps']}/{progress['total_steps']}"
            f" ({progress['percent_complete']:.0f}%)"
        )
    result = ex.get("result")
    if result:
        lines.append(
            f"  result:  {result['branch_name']} @ {result['commit_sha'][:12]}, "
            f"{result['files_changed']} files, +{result['lines_added']}/-{result['lines_removed']}"
        )
    error = ex.get("error")
    if error:
        lines.append(f"  error:   {error['code']}: {error['message']}")
    return "\n".join(lines)


def _event_line(event: dict[str, Any]) -> str:
    payload = json.dumps(event.get("payload") or {}, default=str)
    if len(payload) > 160:
        payload = payload[:157] + "..."
    return f"{event['sequence_number']:>5}  {event['timestamp']}  {event['type']}  {payload}"


# --- commands -------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> ApiClient:
    return ApiClient(args.api_url, resolve_api_key(args.api_key))


def _repos_add(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict[str, Any] = {
        "name": args.name,
        "url": args.url,
        "properties": dict(parse_property(p) for p in args.property or []),
    }
    if args.default_branch:
        body["default_branch"] = args.default_branch
    if args.provider:
        body["provider"] = args.provider
    repo = api.request("POST", "/v1/repositories", body=body)
    _emit(args, repo, lambda r: f"registered {_repo_line(r)}")
    return 0


def _repos_list(args: argparse.Namespace, api: ApiClient) -> int:
    items: list[dict[str, Any]] = []
    while True:
        page = api.request("GET", "/v1/repositories", params={"limit": 100, "offset": len(items)})
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            break
    _emit(args, items, lambda rs: "\n".join(_repo_line(r) for r in rs) or "no repositories")
    return 0


def _repos_show(args: argparse.Namespace, api: ApiClient) -> int:
    _emit(args, find_repository(api, args.ref), lambda r: json.dumps(r, indent=2))
    return 0


def _repos_rm(args: argparse.Namespace, api: ApiClient) -> int:
    repo = find_repository(api, args.ref)
    api.request("DELETE", f"/v1/repositories/{repo['id']}")
    _emit(args, {"deleted": repo["id"]}, lambda _: f"removed repository {repo['name']}")
    return 0


def _read_secret(stdin: IO[str], what: str) -> str:
    value = stdin.read().rstrip("\r\n")
    if not value:
        raise _cli_error(f"no {what} on standard input")
    return value


def credential_body(args: argparse.Namespace, stdin: IO[str]) -> dict[str, Any]:
    """The PUT credential body for --type and the flags that type needs."""
    kind = args.type
    if kind in ("token", "oauth"):
        if not args.token_stdin:
            raise _cli_error(f"--type {kind} needs --token-stdin (the token on standard input)")
        field = "token" if kind == "token" else "oauth_token"
        return {"type": kind, field: _read_secret(stdin, "token")}
    if kind == "basic":
        if not args.username or not args.password_stdin:
            raise _cli_error("--type basic needs --username U and --password-stdin")
        return {
            "type": "basic",
            "username": args.username,
            "password": _read_secret(stdin, "password"),
        }
    if not args.key_file:
        raise _cli_error("--type ssh-key needs --key-file F (a private key file)")
    try:
        key = Path(args.key_file).read_text()
    except OSError as err:
        raise _cli_error(f"cannot read key file {args.key_file}: {err.strerror}") from None
    return {"type": "ssh_key", "ssh_private_key": key}


def _creds_set(args: argparse.Namespace, api: ApiClient) -> int:
    body = credential_body(args, sys.stdin)
    repo = find_repository(api, args.repo)
    info = api.request("PUT", f"/v1/repositories/{repo['id']}/credential", body=body)
    _emit(args, info, lambda i: f"stored a {i['type']} credential for {repo['name']}")
    return 0


def _run(args: argparse.Namespace, api: ApiClient) -> int:
    repo = find_repository(api, args.repo)
    body = execution_request(args, repo["id"])
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    ex = api.request("POST", "/v1/executions", body=body, headers=headers)
    if not args.wait:
        _emit(args, ex, lambda e: f"started execution {e['id']} ({e['state']})")
        return 0
    if not args.json:
        print(f"started execution {ex['id']}", flush=True)
    return wait_for(api, args, str(ex["id"]))


def wait_for(api: ApiClient, args: argparse.Namespace, execution_id: str) -> int:
    """Follow the stream with a progress view; 0 when completed, CliError otherwise."""
    view = ProgressView(sys.stderr if args.json else sys.stdout)
    for event in api.stream_events(execution_id):
        view.on_event(event)
    view.finish()
    ex = api.request("GET", f"/v1/executions/{execution_id}")
    if ex["state"] == "completed":
        _emit(args, ex, execution_summary)
        return 0
    if args.json:
        print(json.dumps(ex, indent=2, default=str))
    error = ex.get("error") or {}
    why = f": {error.get('code')}: {error.get('message')}" if error else ""
    raise _cli_error(f"execution {execution_id} {ex['state']}{why}")


def _status(args: argparse.Namespace, api: ApiClient) -> int:
    _emit(args, api.request("GET", f"/v1/executions/{args.id}"), execution_summary)
    return 0


def _events(args: argparse.Namespace, api: ApiClient) -> int:
    after = 0
    while True:
        page = api.request(
            "GET", f"/v1/executions/{args.id}/events", params={"after": after, "limit": 1000}
        )
        for event in page["items"]:
            print(json.dumps(event, default=str) if args.json else _event_line(event))
        if not page["items"]:
            break
        after = page["next_after"]
    if args.follow:
        for sse in api.stream_events(args.id, after=after):
            if sse.data is None:
                continue
            print(json.dumps(sse.data, default=str) if args.json else _event_line(sse.data))
            sys.stdout.flush()
    return 0


def _cancel(args: argparse.Namespace, api: ApiClient) -> int:
    ex = api.request("POST", f"/v1/executions/{args.id}/cancel", body={"reason": args.reason})
    _emit(args, ex, lambda e: f"cancel requested for {args.id} ({(e or {}).get('state', '')})")
    return 0


def _approve(args: argparse.Namespace, api: ApiClient) -> int:
    action = "reject" if args.reject else "approve"
    out = api.request(
        "POST", f"/v1/executions/{args.id}/plan/{action}", body={"reason": args.reason}
    )
    _emit(args, out, lambda o: f"plan of {args.id} {o['decision']}")
    return 0


def _artifacts_list(args: argparse.Namespace, api: ApiClient) -> int:
    items = api.request("GET", f"/v1/executions/{args.id}/artifacts")
    _emit(
        args,
        items,
        lambda xs: (
            "\n".join(f"{a['id']}  {a['name']}  {a['type']}  {a['size']} bytes" for a in xs)
            or "no artifacts"
        ),
    )
    return 0


def _artifacts_get(args: argparse.Namespace, api: ApiClient) -> int:
    response = api.raw(f"/v1/executions/{args.id}/artifacts/{args.artifact_id}/content")
    if args.output:
        Path(args.output).write_bytes(response.content)
        print(f"wrote {len(response.content)} bytes to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(response.content)
        sys.stdout.flush()
    return 0


# --- registration ---------------------------------------------------------------------


def _handler(fn: Callable[[argparse.Namespace, ApiClient], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        api = _client(args)
        try:
            return fn(args, api)
        finally:
            api.close()

    return run


def common_options() -> argparse.ArgumentParser:
    """--api-url, --api-key and --json, accepted after every client command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        default=os.environ.get("BUILDER_API_URL", DEFAULT_API_URL),
        help="API base URL (env BUILDER_API_URL, default %(default)s)",
    )
    common.add_argument(
        "--api-key",
        default=None,
        help="API key (env BUILDER_API_KEY, else <state dir>/dev-api-key)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    return common


def register(sub: Any) -> None:
    common = common_options()

    def add(parent: Any, name: str, fn: Any, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help, parents=[common])
        p.set_defaults(handler=_handler(fn))
        return p

    repos = sub.add_parser("repos", help="register and list git repositories")
    rsub = repos.add_subparsers(dest="repos_command", metavar="ACTION", required=True)
    p = add(rsub, "add", _repos_add, "register a repository")
    p.add_argument("name")
    p.add_argument("url")
    p.add_argument("--default-branch", default=None, help="default: the remote's HEAD branch")
    p.add_argument("--provider", default=None)
    p.add_argument("--property", action="append", metavar="K=V", help="repeatable")
    add(rsub, "list", _repos_list, "list repositories")
    p = add(rsub, "show", _repos_show, "show a repository")
    p.add_argument("ref", metavar="ID|NAME")
    p = add(rsub, "rm", _repos_rm, "remove a repository")
    p.add_argument("ref", metavar="ID|NAME")
    from builder.cli import repos as repos_cli  # `repos update` lives in its own module

    repos_cli.register(rsub, add)

    creds = sub.add_parser("creds", help="set a repository's credential")
    csub = creds.add_subparsers(dest="creds_command", metavar="ACTION", required=True)
    p = add(csub, "set", _creds_set, "store (replace) the credential of a repository")
    p.add_argument("repo", metavar="REPO")
    p.add_argument("--type", required=True, choices=("token", "basic", "ssh-key", "oauth"))
    p.add_argument("--token-stdin", action="store_true", help="read the token from stdin")
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--key-file", help="SSH private key file")

    p = add(sub, "run", _run, "start a feature execution")
    p.add_argument("repo", metavar="REPO", help="repository id or name")
    p.add_argument("--title")
    p.add_argument("--description")
    p.add_argument("--target-branch")
    p.add_argument("--spec", help="JSON or YAML file with changes and/or request fields")
    p.add_argument("--change", action="append", metavar="JSON", help="a declared change")
    p.add_argument("--idempotency-key")
    p.add_argument("--wait", action="store_true", help="follow progress until it ends")

    p = add(sub, "status", _status, "show an execution")
    p.add_argument("id")
    p = add(sub, "events", _events, "list an execution's events")
    p.add_argument("id")
    p.add_argument("--follow", action="store_true", help="keep streaming until it ends")
    p = add(sub, "cancel", _cancel, "cancel an execution")
    p.add_argument("id")
    p.add_argument("--reason")
    p = add(sub, "approve", _approve, "approve (or --reject) an execution's plan")
    p.add_argument("id")
    p.add_argument("--reject", action="store_true")
    p.add_argument("--reason")

    arts = sub.add_parser("artifacts", help="list and download an execution's artifacts")
    asub = arts.add_subparsers(dest="artifacts_command", metavar="ACTION", required=True)
    p = add(asub, "list", _artifacts_list, "list artifacts")
    p.add_argument("id")
    p = add(asub, "get", _artifacts_get, "download an artifact")
    p.add_argument("id")
    p.add_argument("artifact_id")
    p.add_argument("-o", "--output", help="file to write (default stdout)")

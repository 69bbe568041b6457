"""The client half of `builder`: repositories, credentials and executions over the HTTP API.

It speaks only HTTP (it never imports the server), so it works against `builder dev` and a
production deployment alike. Output is for people by default, `--output json` (alias
`--json`) prints one JSON document and `--output jsonl` one compact JSON object per line.
Problem documents print as one line `builder: <title>: <detail>`; the exit code says what
kind of failure it was (builder.cli.exits).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from builder.cli.exits import ExitCode
from builder.cli.http import (
    DEFAULT_API_URL,
    TERMINAL_EVENTS,
    ApiClient,
    SseEvent,
    cli_error,
    format_problem,
    parse_sse,
    resolve_api_key,
)
from builder.cli.progress import ProgressView, phase_line

__all__ = [
    "DEFAULT_API_URL",
    "TERMINAL_EVENTS",
    "ApiClient",
    "ProgressView",
    "SseEvent",
    "credential_body",
    "execution_request",
    "format_problem",
    "parse_change",
    "parse_moment",
    "parse_property",
    "parse_sse",
    "parse_states",
    "phase_line",
    "register",
    "resolve_api_key",
]

TERMINAL_STATES = frozenset({"completed", "failed", "cancelled"})
STATES = (
    "pending",
    "analyzing",
    "planning",
    "executing",
    "verifying",
    "completed",
    "failed",
    "cancelled",
)
ENGINES = ("spec", "llm", "agent")
OUTPUTS = ("text", "json", "jsonl")
MAX_LIST = 10_000
MAX_TEXT = 255

# --- argument helpers -----------------------------------------------------------------


def parse_property(text: str) -> tuple[str, Any]:
    """`k=v`; v is read as JSON when it parses (numbers, booleans), else kept as text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise cli_error(f"--property must look like key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def parse_change(text: str) -> dict[str, Any]:
    try:
        change = json.loads(text)
    except json.JSONDecodeError as err:
        raise cli_error(f"--change is not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(change, dict) or "op" not in change:
        raise cli_error(f'--change must be a JSON object with an "op", got {text[:80]!r}')
    return change


def parse_states(values: list[str] | None) -> list[str]:
    """`--state a --state b,c` as a list; an unknown state is a usage error."""
    states: list[str] = []
    for value in values or []:
        for part in value.split(","):
            name = part.strip()
            if name not in STATES:
                raise cli_error(f"--state {name!r} is not a state; choose from {', '.join(STATES)}")
            if name not in states:
                states.append(name)
    return states


_AGE = re.compile(r"^(\d{1,6})([smhdw])$")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, flag: str, now: datetime | None = None) -> str:
    """An ISO 8601 time (local time when it has no offset) or an age like `2h`, `7d`, as
    the timezone-aware ISO string the API wants."""
    value = text.strip()
    age = _AGE.match(value)
    if age:
        delta = timedelta(**{_AGE_UNITS[age.group(2)]: int(age.group(1))})
        return ((now or datetime.now().astimezone()) - delta).isoformat()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise cli_error(
            f"{flag} must be an ISO 8601 time (2024-05-01, 2024-05-01T12:00Z) or an age "
            f"such as 30m, 2h, 7d, 1w; got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.isoformat()


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
    "continue_from",
    "continue_branch",
)


def load_spec(path: str) -> dict[str, Any]:
    """A spec file (JSON, or YAML by extension) with `changes` and/or request fields."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as err:
        raise cli_error(f"cannot read spec file {path}: {err.strerror}") from None
    try:
        if file.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise cli_error(f"spec file {path} does not parse: {first}") from None
    if isinstance(data, list):
        data = {"changes": data}
    if not isinstance(data, dict):
        raise cli_error(f"spec file {path} must hold an object or a list of changes")
    unknown = sorted(set(data) - set(SPEC_FIELDS))
    if unknown:
        raise cli_error(
            f"spec file {path} has unknown fields {', '.join(unknown)}; "
            f"allowed: {', '.join(SPEC_FIELDS)}"
        )
    return data


def execution_request(args: argparse.Namespace, repository_id: str) -> dict[str, Any]:
    """The POST /v1/executions body: the spec file, then flags on top of it. Checked here
    as far as the CLI can, so bad input is refused before anything is sent."""
    body: dict[str, Any] = load_spec(args.spec) if args.spec else {}
    body["repository_id"] = repository_id
    for name in ("title", "description", "target_branch", "engine", "continue_from",
                 "continue_branch"):  # fmt: skip
        value = getattr(args, name, None)
        if value is not None:
            body[name] = value
    if getattr(args, "address_review", False):
        body["properties"] = {**(body.get("properties") or {}), "address_review": True}
    changes = list(body.get("changes") or [])
    changes += [parse_change(c) for c in args.change or []]
    if changes:
        body["changes"] = changes
    missing = [f"--{f}" for f in ("title", "description") if not body.get(f)]
    if missing:
        raise cli_error(f"{' and '.join(missing)} required (as flags or in the spec file)")
    if body.get("engine", "spec") == "spec" and not changes:
        raise cli_error(
            "the spec engine needs declared changes: pass --change JSON or --spec FILE "
            "(or choose --engine llm)"
        )
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
        repo: dict[str, Any] = api.request("GET", f"/v1/repositories/{ref}")
        return repo
    offset = 0
    while True:
        page = api.request("GET", "/v1/repositories", params={"limit": 100, "offset": offset})
        for repo in page["items"]:
            if repo["name"] == ref:
                return repo
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            raise cli_error(
                f"no repository named {ref!r} (see `builder repos list`)", ExitCode.NOT_FOUND
            )


# --- output ---------------------------------------------------------------------------


def _dump(data: Any, mode: str) -> str:
    if mode == "jsonl":
        return json.dumps(data, separators=(",", ":"), default=str)
    return json.dumps(data, indent=2, default=str)


def emit(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    """`data` for --output: text via `human`, json as one document, jsonl one line per
    item of a list (or one line for an object)."""
    mode = getattr(args, "output", "text")
    if mode == "json":
        print(_dump(data, "json"))
    elif mode == "jsonl":
        for item in data if isinstance(data, list) else [data]:
            print(_dump(item, "jsonl"))
    else:
        print(human(data))


def _machine(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "text") != "text"


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
    if ex.get("queue_position"):
        lines.append(
            f"  queued:  position {ex['queue_position']} for one of the tenant's execution slots"
        )
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


def execution_line(ex: dict[str, Any]) -> str:
    """One line of `builder executions list`."""
    created = str(ex.get("created_at", ""))[:19].replace("T", " ")
    return f"{ex['id']}  {ex['state']:<10} {created}  {ex['title']}"


def _event_line(event: dict[str, Any]) -> str:
    payload = json.dumps(event.get("payload") or {}, default=str)
    if len(payload) > 160:
        payload = payload[:157] + "..."
    return f"{event['sequence_number']:>5}  {event['timestamp']}  {event['type']}  {payload}"


# --- commands -------------------------------------------------------------------------


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
    emit(args, repo, lambda r: f"registered {_repo_line(r)}")
    return 0


def _repos_list(args: argparse.Namespace, api: ApiClient) -> int:
    items: list[dict[str, Any]] = []
    while True:
        page = api.request("GET", "/v1/repositories", params={"limit": 100, "offset": len(items)})
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            break
    emit(args, items, lambda rs: "\n".join(_repo_line(r) for r in rs) or "no repositories")
    return 0


def _repos_show(args: argparse.Namespace, api: ApiClient) -> int:
    emit(args, find_repository(api, args.ref), lambda r: json.dumps(r, indent=2))
    return 0


def _repos_rm(args: argparse.Namespace, api: ApiClient) -> int:
    repo = find_repository(api, args.ref)
    api.request("DELETE", f"/v1/repositories/{repo['id']}")
    emit(args, {"deleted": repo["id"]}, lambda _: f"removed repository {repo['name']}")
    return 0


def _read_secret(stdin: IO[str], what: str) -> str:
    value = stdin.read().rstrip("\r\n")
    if not value:
        raise cli_error(f"no {what} on standard input")
    return value


def credential_body(args: argparse.Namespace, stdin: IO[str]) -> dict[str, Any]:
    """The PUT credential body for --type and the flags that type needs."""
    kind = args.type
    if kind in ("token", "oauth"):
        if not args.token_stdin:
            raise cli_error(f"--type {kind} needs --token-stdin (the token on standard input)")
        field = "token" if kind == "token" else "oauth_token"
        return {"type": kind, field: _read_secret(stdin, "token")}
    if kind == "basic":
        if not args.username or not args.password_stdin:
            raise cli_error("--type basic needs --username U and --password-stdin")
        return {
            "type": "basic",
            "username": args.username,
            "password": _read_secret(stdin, "password"),
        }
    if not args.key_file:
        raise cli_error("--type ssh-key needs --key-file F (a private key file)")
    try:
        key = Path(args.key_file).read_text()
    except OSError as err:
        raise cli_error(f"cannot read key file {args.key_file}: {err.strerror}") from None
    return {"type": "ssh_key", "ssh_private_key": key}


def _creds_set(args: argparse.Namespace, api: ApiClient) -> int:
    body = credential_body(args, sys.stdin)
    repo = find_repository(api, args.repo)
    api.request("PUT", f"/v1/repositories/{repo['id']}/credential", body=body)
    info = {"repository_id": repo["id"], "type": body["type"]}
    emit(args, info, lambda i: f"stored a {i['type']} credential for {repo['name']}")
    return 0


def _run(args: argparse.Namespace, api: ApiClient) -> int:
    body = execution_request(args, "")  # checked before anything is sent
    repo = find_repository(api, args.repo)
    body["repository_id"] = repo["id"]
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    ex = api.request("POST", "/v1/executions", body=body, headers=headers)
    if not args.wait:
        emit(args, ex, lambda e: f"started execution {e['id']} ({e['state']})")
        return 0
    progress = sys.stderr if _machine(args) else sys.stdout
    print(f"started execution {ex['id']}", file=progress, flush=True)
    return wait_for(api, args, str(ex["id"]))


def wait_for(api: ApiClient, args: argparse.Namespace, execution_id: str) -> int:
    """Follow the stream with a progress view; 0 when completed, else a CliError with
    exit code RUN_FAILED (after printing the execution in machine-readable modes)."""
    view = ProgressView(sys.stderr if _machine(args) else sys.stdout)
    for event in api.stream_events(execution_id):
        view.on_event(event)
    view.finish()
    ex = api.request("GET", f"/v1/executions/{execution_id}")
    if ex["state"] == "completed":
        emit(args, ex, execution_summary)
        return 0
    if _machine(args):
        emit(args, ex, execution_summary)
    error = ex.get("error") or {}
    why = f": {error.get('code')}: {error.get('message')}" if error else ""
    raise cli_error(f"execution {execution_id} {ex['state']}{why}", ExitCode.RUN_FAILED)


def list_query(args: argparse.Namespace) -> dict[str, Any]:
    """The search parameters of `executions list` (the repository is resolved later)."""
    params: dict[str, Any] = {}
    states = parse_states(args.state)
    if states:
        params["states"] = states
    if args.since is not None:
        params["created_after"] = parse_moment(args.since, "--since")
    if args.until is not None:
        params["created_before"] = parse_moment(args.until, "--until")
    if args.text is not None:
        if not args.text or len(args.text) > MAX_TEXT or "\x00" in args.text:
            raise cli_error(f"--text must be 1-{MAX_TEXT} characters without NUL")
        params["q"] = args.text
    if not 1 <= args.limit <= MAX_LIST:
        raise cli_error(f"--limit must be between 1 and {MAX_LIST}, got {args.limit}")
    return params


def _executions_list(args: argparse.Namespace, api: ApiClient) -> int:
    params = list_query(args)  # checked before anything is sent
    if args.repository:
        params["repository_id"] = find_repository(api, args.repository)["id"]
    items: list[dict[str, Any]] = []
    total = 0
    while len(items) < args.limit:
        size = min(100, args.limit - len(items))
        page = api.request(
            "GET", "/v1/executions", params={**params, "limit": size, "offset": len(items)}
        )
        items += page["items"][:size]
        total = page["total"]
        if not page["items"] or len(items) >= total:
            break

    def human(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "no executions"
        more = f"\n({len(rows)} of {total}; raise --limit for more)" if total > len(rows) else ""
        return "\n".join(execution_line(r) for r in rows) + more

    emit(args, items, human)
    return 0


def _status(args: argparse.Namespace, api: ApiClient) -> int:
    emit(args, api.request("GET", f"/v1/executions/{args.id}"), execution_summary)
    return 0


def _events(args: argparse.Namespace, api: ApiClient) -> int:
    if args.follow and args.output == "json":
        raise cli_error("--follow streams events: use --output jsonl (or text) with it")
    after = 0
    collected: list[dict[str, Any]] = []
    while True:
        page = api.request(
            "GET", f"/v1/executions/{args.id}/events", params={"after": after, "limit": 1000}
        )
        for event in page["items"]:
            if args.output == "json":
                collected.append(event)
            else:
                _print_event(args, event)
        if not page["items"]:
            break
        after = page["next_after"]
    if args.output == "json":
        print(_dump(collected, "json"))
    if args.follow:
        for sse in api.stream_events(args.id, after=after):
            if sse.data is not None:
                _print_event(args, sse.data)
    return 0


def _print_event(args: argparse.Namespace, event: dict[str, Any]) -> None:
    print(_dump(event, "jsonl") if args.output == "jsonl" else _event_line(event), flush=True)


def _cancel(args: argparse.Namespace, api: ApiClient) -> int:
    body = {"reason": args.reason} if args.reason is not None else {}
    ex = api.request("POST", f"/v1/executions/{args.id}/cancel", body=body)
    emit(args, ex, lambda e: f"cancel requested for {args.id} ({(e or {}).get('state', '')})")
    return 0


def _approve(args: argparse.Namespace, api: ApiClient) -> int:
    action = "reject" if args.reject else "approve"
    body = {"reason": args.reason} if args.reason is not None else {}
    out = api.request("POST", f"/v1/executions/{args.id}/plan/{action}", body=body)
    emit(args, out, lambda o: f"plan of {args.id} {o['decision']}")
    return 0


def _artifacts_list(args: argparse.Namespace, api: ApiClient) -> int:
    items = api.request("GET", f"/v1/executions/{args.id}/artifacts")
    emit(
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
    if args.file:
        Path(args.file).write_bytes(response.content)
        print(f"wrote {len(response.content)} bytes to {args.file}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(response.content)
        sys.stdout.flush()
    return 0


# --- registration ---------------------------------------------------------------------


def api_handler(fn: Callable[[argparse.Namespace, ApiClient], int]) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        api = ApiClient(args.api_url, resolve_api_key(args.api_key))
        try:
            return fn(args, api)
        finally:
            api.close()

    return run


def connection_options() -> argparse.ArgumentParser:
    """--api-url and --api-key, accepted after every client command."""
    from builder.cli import Parser

    common = Parser(add_help=False)
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
    return common


def output_options() -> argparse.ArgumentParser:
    """--output text|json|jsonl and its alias --json."""
    from builder.cli import Parser

    common = Parser(add_help=False)
    common.add_argument(
        "--output",
        choices=OUTPUTS,
        default="text",
        help="text for people (default), json: one document, jsonl: one object per line",
    )
    common.add_argument(
        "--json", dest="output", action="store_const", const="json", help="same as --output json"
    )
    return common


def register(sub: Any) -> None:
    connection = connection_options()
    formats = output_options()

    def add(
        parent: Any, name: str, fn: Any, help: str, *, formatted: bool = True
    ) -> argparse.ArgumentParser:
        parents = [connection, formats] if formatted else [connection]
        p: argparse.ArgumentParser = parent.add_parser(
            name, help=help, description=help, parents=parents
        )
        p.set_defaults(handler=api_handler(fn))
        return p

    repos = sub.add_parser("repos", help="register and list git repositories")
    rsub = repos.add_subparsers(dest="repos_command", metavar="ACTION", required=True)
    p = add(rsub, "add", _repos_add, "register a repository")
    p.add_argument("name", help="unique name of the repository for this tenant")
    p.add_argument("url", help="git URL (https://, ssh://, user@host:path, or a local path)")
    p.add_argument(
        "--default-branch",
        default=None,
        help="branch executions start from (default: the remote's HEAD branch, else main)",
    )
    p.add_argument(
        "--provider",
        default=None,
        help="github, gitlab, bitbucket, azure_devops, gitea or generic",
    )
    p.add_argument(
        "--property",
        action="append",
        metavar="K=V",
        help="a repository property (value read as JSON when it parses); repeatable",
    )
    add(rsub, "list", _repos_list, "list repositories")
    p = add(rsub, "show", _repos_show, "show a repository")
    p.add_argument("ref", metavar="ID|NAME", help="repository id or name")
    p = add(rsub, "rm", _repos_rm, "remove a repository")
    p.add_argument("ref", metavar="ID|NAME", help="repository id or name")
    from builder.cli import repos as repos_cli  # `repos update` lives in its own module

    repos_cli.register(rsub, add)

    creds = sub.add_parser("creds", help="set a repository's credential")
    csub = creds.add_subparsers(dest="creds_command", metavar="ACTION", required=True)
    p = add(csub, "set", _creds_set, "store (replace) the credential of a repository")
    p.add_argument("repo", metavar="REPO", help="repository id or name")
    p.add_argument(
        "--type",
        required=True,
        choices=("token", "basic", "ssh-key", "oauth"),
        help="kind of credential",
    )
    p.add_argument("--token-stdin", action="store_true", help="read the token from stdin")
    p.add_argument("--username", help="user name (--type basic)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--key-file", help="SSH private key file (--type ssh-key)")

    p = add(sub, "run", _run, "start a feature execution")
    p.add_argument("repo", metavar="REPO", help="repository id or name")
    p.add_argument("--title", help="short title (1-255 characters)")
    p.add_argument("--description", help="what the change should do (10+ characters)")
    p.add_argument("--target-branch", help="branch to build on (the repository's default)")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=None,
        help="change engine: spec (declared changes, the default), llm or agent; "
        "the API says which it has configured",
    )
    p.add_argument("--spec", help="JSON or YAML file with changes and/or request fields")
    p.add_argument(
        "--change", action="append", metavar="JSON", help="a declared change; repeatable"
    )
    p.add_argument(
        "--continue-from", metavar="ID",
        help="a follow-up: continue the branch an earlier execution pushed (and its PR)",
    )  # fmt: skip
    p.add_argument("--continue-branch", metavar="B", help="a follow-up on an existing branch")
    p.add_argument(
        "--address-review", action="store_true",
        help="(llm engine, follow-ups) take the PR's unresolved review comments as the request",
    )  # fmt: skip
    p.add_argument(
        "--idempotency-key", help="names the execution: a retry with the same key attaches"
    )
    p.add_argument(
        "--wait", action="store_true", help="follow progress until it ends (exit 1 if it fails)"
    )

    executions = sub.add_parser("executions", help="search feature executions")
    esub = executions.add_subparsers(dest="executions_command", metavar="ACTION", required=True)
    p = add(esub, "list", _executions_list, "list executions, newest first")
    p.add_argument(
        "--state",
        action="append",
        metavar="STATE",
        help=f"only these states ({', '.join(STATES)}); repeatable or comma-separated",
    )
    p.add_argument("--repository", metavar="REPO", help="only this repository (id or name)")
    p.add_argument(
        "--since", metavar="WHEN", help="created at or after: ISO 8601 time or an age (2h, 7d)"
    )
    p.add_argument(
        "--until", metavar="WHEN", help="created before: ISO 8601 time or an age (2h, 7d)"
    )
    p.add_argument("--text", help="text in the title or description")
    p.add_argument(
        "--limit",
        type=int,
        default=20,
        help=f"show at most this many (1-{MAX_LIST}, default %(default)s)",
    )

    p = add(sub, "status", _status, "show an execution")
    p.add_argument("id", help="execution id")
    p = add(sub, "events", _events, "list an execution's events")
    p.add_argument("id", help="execution id")
    p.add_argument("--follow", action="store_true", help="keep streaming until it ends")
    p = add(sub, "cancel", _cancel, "cancel an execution")
    p.add_argument("id", help="execution id")
    p.add_argument("--reason", help="why (kept with the execution)")
    p = add(sub, "approve", _approve, "approve (or --reject) an execution's plan")
    p.add_argument("id", help="execution id")
    p.add_argument("--reject", action="store_true", help="reject the plan instead (cancels)")
    p.add_argument("--reason", help="why (kept with the decision)")

    arts = sub.add_parser("artifacts", help="list and download an execution's artifacts")
    asub = arts.add_subparsers(dest="artifacts_command", metavar="ACTION", required=True)
    p = add(asub, "list", _artifacts_list, "list artifacts")
    p.add_argument("id", help="execution id")
    p = add(asub, "get", _artifacts_get, "download an artifact", formatted=False)
    p.add_argument("id", help="execution id")
    p.add_argument("artifact_id", help="artifact id (from `builder artifacts list`)")
    p.add_argument("-o", "--file", help="file to write (default stdout)")

"""`builder webhooks ...`: manage outbound webhook subscriptions over the HTTP API.

    builder webhooks add URL --event execution.completed [--event ...] [--description D]
    builder webhooks list | show ID | rm ID
    builder webhooks update ID [--url U] [--event E ...] [--description D] [--active|--inactive]
    builder webhooks rotate ID [--grace SECONDS]
    builder webhooks messages ID [--status pending|delivered|failed]
    builder webhooks attempts ID MESSAGE_ID
    builder webhooks redeliver ID MESSAGE_ID

A signing secret is printed by `add` and `rotate` only; the API never shows it again.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from builder.cli.client import ApiClient, api_handler, connection_options, emit, output_options

EVENT_TYPES = (
    "execution.completed",
    "execution.failed",
    "execution.cancelled",
    "plan.approval_requested",
    "pull_request.opened",
    "pull_request.updated",
)

Command = Callable[[argparse.Namespace, ApiClient], int]


def _line(hook: dict[str, Any]) -> str:
    state = "active" if hook["active"] else "inactive"
    if hook.get("disabled_reason"):
        state += f" ({hook['disabled_reason']})"
    return f"{hook['id']}  {hook['url']}  [{', '.join(hook['event_types'])}]  {state}"


def _message_line(m: dict[str, Any]) -> str:
    last = f"  last: {m['last_status_code'] or '-'} {m['last_error'] or ''}".rstrip()
    return f"{m['id']}  {m['event_type']}  {m['status']}  attempts={m['attempts']}{last}"


def _attempt_line(a: dict[str, Any]) -> str:
    status = a["status_code"] if a["status_code"] is not None else "-"
    return (
        f"#{a['attempt']}  {a['started_at']}  {a['outcome']}  HTTP {status}  "
        f"{a['duration_ms'] if a['duration_ms'] is not None else '-'} ms  {a['error'] or ''}"
    ).rstrip()


def _add(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict[str, Any] = {"url": args.url, "event_types": args.event, "active": not args.inactive}
    if args.description:
        body["description"] = args.description
    hook = api.request("POST", "/v1/webhooks", body=body)
    emit(
        args,
        hook,
        lambda h: (
            f"subscribed {_line(h)}\nsigning secret (shown once, store it now): {h['secret']}"
        ),
    )
    return 0


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    items: list[dict[str, Any]] = []
    while True:
        page = api.request("GET", "/v1/webhooks", params={"limit": 100, "offset": len(items)})
        items += page["items"]
        if not page["items"] or len(items) >= page["total"]:
            break
    emit(args, items, lambda hs: "\n".join(_line(h) for h in hs) or "no webhooks")
    return 0


def _show(args: argparse.Namespace, api: ApiClient) -> int:
    emit(args, api.request("GET", f"/v1/webhooks/{args.id}"), lambda h: json.dumps(h, indent=2))
    return 0


def _update(args: argparse.Namespace, api: ApiClient) -> int:
    body: dict[str, Any] = {}
    if args.url:
        body["url"] = args.url
    if args.event:
        body["event_types"] = args.event
    if args.description is not None:
        body["description"] = args.description
    if args.active is not None:
        body["active"] = args.active
    hook = api.request("PATCH", f"/v1/webhooks/{args.id}", body=body)
    emit(args, hook, lambda h: f"updated {_line(h)}")
    return 0


def _rm(args: argparse.Namespace, api: ApiClient) -> int:
    api.request("DELETE", f"/v1/webhooks/{args.id}")
    emit(args, {"deleted": args.id}, lambda _: f"removed webhook {args.id}")
    return 0


def _rotate(args: argparse.Namespace, api: ApiClient) -> int:
    rotated = api.request(
        "POST",
        f"/v1/webhooks/{args.id}/secret/rotate",
        body={"previous_valid_for_seconds": args.grace},
    )
    emit(
        args,
        rotated,
        lambda r: (
            f"new signing secret (shown once, store it now): {r['secret']}\n"
            f"the previous secret keeps signing until {r['previous_secrets_expire_at']}"
        ),
    )
    return 0


def _messages(args: argparse.Namespace, api: ApiClient) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.status:
        params["status"] = args.status
    page = api.request("GET", f"/v1/webhooks/{args.id}/messages", params=params)
    emit(
        args,
        page,
        lambda p: "\n".join(_message_line(m) for m in p["items"]) or "no messages",
    )
    return 0


def _attempts(args: argparse.Namespace, api: ApiClient) -> int:
    found = api.request("GET", f"/v1/webhooks/{args.id}/messages/{args.message_id}/attempts")
    emit(args, found, lambda a: "\n".join(_attempt_line(x) for x in a) or "no attempts yet")
    return 0


def _redeliver(args: argparse.Namespace, api: ApiClient) -> int:
    message = api.request("POST", f"/v1/webhooks/{args.id}/messages/{args.message_id}/redeliver")
    emit(args, message, lambda m: f"queued again: {_message_line(m)}")
    return 0


def register(sub: Any) -> None:
    """Add `builder webhooks` to the CLI's subcommands."""
    parents = [connection_options(), output_options()]
    hooks = sub.add_parser("webhooks", help="outbound webhook subscriptions")
    hsub = hooks.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)

    def add(name: str, fn: Command, help: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = hsub.add_parser(
            name, help=help, description=help, parents=parents
        )
        p.set_defaults(handler=api_handler(fn))
        return p

    p = add("add", _add, "subscribe a URL to event types (prints the signing secret once)")
    p.add_argument("url", help="where to POST the events (https; loopback only in dev)")
    p.add_argument(
        "--event", action="append", required=True, choices=EVENT_TYPES,
        help="an event type to deliver; repeatable",
    )  # fmt: skip
    p.add_argument("--description", help="a note for people reading the subscription")
    p.add_argument("--inactive", action="store_true", help="create it switched off")
    add("list", _list, "list subscriptions")
    p = add("show", _show, "show a subscription")
    p.add_argument("id", help="subscription id")
    p = add("update", _update, "change a subscription")
    p.add_argument("id", help="subscription id")
    p.add_argument("--url", help="a new destination URL")
    p.add_argument(
        "--event", action="append", choices=EVENT_TYPES, help="repeatable; replaces the list"
    )
    p.add_argument("--description", help="a new note")
    state = p.add_mutually_exclusive_group()
    state.add_argument(
        "--active", dest="active", action="store_const", const=True, help="switch it on"
    )
    state.add_argument(
        "--inactive", dest="active", action="store_const", const=False, help="switch it off"
    )
    p.set_defaults(active=None)
    p = add("rm", _rm, "delete a subscription")
    p.add_argument("id", help="subscription id")
    p = add("rotate", _rotate, "rotate the signing secret (prints the new one once)")
    p.add_argument("id", help="subscription id")
    p.add_argument(
        "--grace",
        type=int,
        default=86_400,
        help="seconds the previous secret keeps signing (default one day)",
    )
    p = add("messages", _messages, "list messages queued for a subscription")
    p.add_argument("id", help="subscription id")
    p.add_argument(
        "--status", choices=("pending", "delivered", "failed"), help="only messages in it"
    )
    p.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    p = add("attempts", _attempts, "list the delivery attempts of a message")
    p.add_argument("id", help="subscription id")
    p.add_argument("message_id", help="message id")
    p = add("redeliver", _redeliver, "queue a message again now")
    p.add_argument("id", help="subscription id")
    p.add_argument("message_id", help="message id")

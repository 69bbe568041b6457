"""`builder tenants ...`: a tenant's concurrency limit, straight on the database (operators).

    builder tenants show TENANT [--json]
    builder tenants limit TENANT N|none|default [--json]

N (a positive integer) overrides the deployment default (BUILDER_TENANT_MAX_CONCURRENT_EXECUTIONS)
for the tenant, `none` (or 0) makes the tenant unlimited, `default` drops the override.
Executions beyond the limit wait in `pending`, in FIFO order; a new limit applies to them at
their next poll, and running executions are never stopped by it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from builder.cli.exits import ExitCode
from builder.settings import get_settings
from domain.admission import parse_limit

DEFAULT_WORD = "default"


def register(sub: Any) -> None:
    tenants = sub.add_parser("tenants", help="per-tenant settings: the concurrency limit")
    actions = tenants.add_subparsers(dest="tenants_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser(
        "show", help="the tenant's concurrency limit and its running and waiting executions"
    )
    p.add_argument("tenant", help="tenant id (UUID)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler=_show)
    p = actions.add_parser("limit", help="set the tenant's concurrency limit")
    p.add_argument("tenant", help="tenant id (UUID)")
    p.add_argument(
        "value",
        type=_limit_value,
        metavar="N|none|default",
        help="executions the tenant may run at once: a positive integer, `none` (or 0) for "
        "unlimited, `default` for the deployment default",
    )
    p.add_argument("--json", action="store_true", help="print the result as a JSON object")
    p.set_defaults(handler=_limit)


def _limit_value(value: str) -> int | str | None:
    if value.strip().lower() == DEFAULT_WORD:
        return DEFAULT_WORD
    try:
        return parse_limit(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _run(fn: Callable[[Any, int | None], Awaitable[Any]]) -> Any:
    """Run `fn(sessions, default_limit)` against the database; its failures as one line."""
    from sqlalchemy.exc import DBAPIError, ProgrammingError

    from builder.cli import CliError
    from builder.cli.operator import _require_database, _with_sessions

    settings = get_settings()
    _require_database(settings)
    default = settings.tenant_max_concurrent_executions or None
    try:
        return _with_sessions(settings, lambda sessions: fn(sessions, default))
    except ProgrammingError:
        raise CliError(
            "the database schema is not up to date: run `builder migrate`", ExitCode.USAGE
        ) from None
    except (DBAPIError, OSError) as err:
        # never the URL: it may carry a password
        raise CliError(
            f"cannot reach the database ({type(err).__name__})", ExitCode.UNAVAILABLE
        ) from None


def _print(limit: Any, as_json: bool) -> None:
    doc = {
        "tenant_id": str(limit.tenant_id),
        "limit": limit.effective,
        "source": "tenant" if limit.has_override else "default",
        "default": limit.default,
        "running": limit.running,
        "waiting": limit.waiting,
    }
    if as_json:
        print(json.dumps(doc))
        return
    shown = "unlimited" if limit.effective is None else str(limit.effective)
    print(
        f"tenant {doc['tenant_id']}: limit {shown} ({doc['source']}), "
        f"{limit.running} running, {limit.waiting} waiting"
    )


def _show(args: argparse.Namespace) -> int:
    from api.admin import tenant_limit
    from builder.cli.operator import _tenant

    tenant = _tenant(args.tenant)
    _print(_run(lambda s, default: tenant_limit(s, tenant, default)), args.json)
    return ExitCode.OK


def _limit(args: argparse.Namespace) -> int:
    from api.admin import reset_tenant_limit, set_tenant_limit
    from builder.cli.operator import _tenant

    tenant = _tenant(args.tenant)
    value = args.value
    if value == DEFAULT_WORD:
        result = _run(lambda s, default: reset_tenant_limit(s, tenant, default))
    else:
        result = _run(lambda s, default: set_tenant_limit(s, tenant, value, default))
    _print(result, args.json)
    return ExitCode.OK

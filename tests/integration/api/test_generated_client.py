"""A client generated from the served OpenAPI document by a common generator
(openapi-python-client, from PyPI, installed once into the test cache) drives one execution
end to end against the API and a real worker: what a team generating its own client gets."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.admin import create_api_key
from builder.stack.temporal import TemporalDevServer
from tests.fixtures.git_servers import BareRemoteFactory
from tests.fixtures.served_api import running_worker, served_api, stack_settings

GENERATOR = "openapi-python-client==0.29.1"
PACKAGE = "builder_generated_client"


def _cache_dir() -> Path:
    root = os.environ.get("BUILDER_TEST_CACHE") or str(Path.home() / ".cache" / "builder-tests")
    return Path(root) / GENERATOR.replace("==", "-")


def generator() -> Path:
    """The generator's executable, installed from PyPI into a cached virtualenv."""
    venv = _cache_dir()
    exe = venv / "bin" / "openapi-python-client"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", GENERATOR],
            check=True,
            timeout=600,
        )
    return exe


def generate_client(document: Path, into: Path) -> ModuleType:
    """Generate the client package from `document` into `into` and import it."""
    out = into / PACKAGE
    done = subprocess.run(
        [str(generator()), "generate", "--path", str(document), "--output-path", str(out),
         "--meta", "none", "--overwrite"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # the generator drops what it cannot parse and says so: nothing may be dropped
    assert "Warning" not in done.stdout and "WARNING" not in done.stdout, done.stdout
    sys.path.insert(0, str(into))
    return importlib.import_module(PACKAGE)


@pytest.fixture
def sys_path_guard() -> Iterator[None]:
    before = list(sys.path)
    yield
    sys.path[:] = before
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


@pytest.mark.slow
async def test_a_generated_client_drives_an_execution_to_completion(
    database_url: str,
    temporal_server: TemporalDevServer,
    sessions: async_sessionmaker[AsyncSession],
    bare_remote: BareRemoteFactory,
    tmp_path: Path,
    sys_path_guard: None,
) -> None:
    settings = stack_settings(database_url, temporal_server.address, tmp_path / "state")
    _id, key = await create_api_key(sessions, uuid.uuid4(), "generated client")
    remote = bare_remote(files=3)
    async with running_worker(settings):
        with served_api(settings) as url:
            document = tmp_path / "openapi.json"
            document.write_bytes(httpx.get(f"{url}/openapi.json").content)
            client_pkg = await asyncio.to_thread(generate_client, document, tmp_path)
            await _drive(client_pkg, url, key, f"file://{remote}")


async def _drive(pkg: ModuleType, url: str, key: str, remote: str) -> None:
    api = importlib.import_module(f"{PACKAGE}.api")
    models = importlib.import_module(f"{PACKAGE}.models")
    create_repository = importlib.import_module(f"{api.__name__}.repositories.create_repository")
    create_execution = importlib.import_module(f"{api.__name__}.executions.create_execution")
    get_execution = importlib.import_module(f"{api.__name__}.executions.get_execution")
    list_events = importlib.import_module(f"{api.__name__}.events.list_events")
    search = importlib.import_module(f"{api.__name__}.executions.search_executions")

    async with pkg.AuthenticatedClient(base_url=url, token=key) as client:
        repo = await create_repository.asyncio_detailed(
            client=client, body=models.RepositoryCreate(name="generated", url=remote)
        )
        assert repo.status_code == 201, repo.content
        body = models.ExecutionCreate(
            repository_id=repo.parsed.id,
            title="Add a hello page",
            description="Adds docs/hello.md through a generated client.",
            changes=[models.WriteFile(op="write_file", path="docs/hello.md", content="hello\n")],
        )
        started = await create_execution.asyncio_detailed(
            client=client, body=body, idempotency_key="generated-client-1"
        )
        assert started.status_code == 202, started.content
        execution_id = started.parsed.id

        deadline = time.monotonic() + 120
        state = started.parsed.state.value
        while state not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"still {state} after 120 s"
            await asyncio.sleep(0.5)
            current = await get_execution.asyncio(client=client, execution_id=execution_id)
            state = current.state.value
        assert state == "completed", current.error
        assert current.result.branch_name == current.feature_branch

        events = await list_events.asyncio(client=client, execution_id=execution_id)
        assert events.items[-1].type_ == "execution.completed"
        found = await search.asyncio(
            client=client, states=[models.SearchExecutionsStatesType0Item.COMPLETED]
        )
        assert execution_id in {e.id for e in found.items}

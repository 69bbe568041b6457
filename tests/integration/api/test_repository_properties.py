"""Repository properties through the API: typed and documented, unknown or secret-looking keys
refused, PATCH merging (null switches a phase off, remove_properties goes back to detection),
the default branch read from the remote's HEAD, and the stored properties resolved over a
`.builder.yml` in the repository and detection."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from activities.analysis.repo_config import analyze_configured_repository
from builder.cli import main
from tests.fixtures.git_servers import free_port, make_bare_repository
from tests.fixtures.registry import FetchedSource, git_remote
from tests.integration.api.conftest import Tenant, register_repository


async def create(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    payload = {"name": f"repo-{uuid.uuid4().hex[:8]}", "url": "https://git.example.com/a.git",
               "default_branch": "main", **body}  # fmt: skip
    return await client.post("/v1/repositories", json=payload, headers=tenant.headers)


async def test_unknown_property_is_refused_naming_it_and_the_known_ones(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await create(client, tenant, properties={"tset_command": "pytest"})
    assert response.status_code == 422
    text = response.text
    assert "unknown repository property 'tset_command'" in text and "test_command" in text


async def test_secret_looking_env_names_and_bad_values_are_refused_without_echoing_them(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await create(client, tenant, properties={"env": {"NPM_TOKEN": "npm_s3cr3tvalue"}})
    assert response.status_code == 422
    assert "looks like a secret" in response.text
    assert "npm_s3cr3tvalue" not in response.text
    bad_timeout = await create(client, tenant, properties={"test_timeout_s": 0})
    assert bad_timeout.status_code == 422 and "test_timeout_s" in bad_timeout.text
    empty = await create(client, tenant, properties={"build_command": "  "})
    assert empty.status_code == 422 and "build_command" in empty.text


async def test_patch_merges_properties_null_switches_off_and_removal_goes_back_to_detection(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(
        client, tenant, properties={"test_command": "pytest -q", "build_command": "make"}
    )
    assert created.status_code == 201, created.text
    repo = created.json()
    assert repo["properties"] == {"test_command": "pytest -q", "build_command": "make"}
    path = f"/v1/repositories/{repo['id']}"

    off = await client.patch(
        path, json={"properties": {"build_command": None, "test_allow_network": True}},
        headers=tenant.headers,
    )  # fmt: skip
    assert off.status_code == 200, off.text
    assert off.json()["properties"] == {
        "test_command": "pytest -q", "build_command": None, "test_allow_network": True,
    }  # fmt: skip

    back = await client.patch(
        path, json={"remove_properties": ["build_command"]}, headers=tenant.headers
    )
    assert back.json()["properties"] == {"test_command": "pytest -q", "test_allow_network": True}
    shown = (await client.get(path, headers=tenant.headers)).json()
    assert shown["properties"] == back.json()["properties"]

    both = await client.patch(
        path, json={"properties": {"build_command": None}, "remove_properties": ["build_command"]},
        headers=tenant.headers,
    )  # fmt: skip
    assert both.status_code == 422 and "both set and removed" in both.text
    unknown = await client.patch(path, json={"remove_properties": ["nope"]}, headers=tenant.headers)
    assert unknown.status_code == 422


async def test_openapi_documents_every_property(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    props = schemas["RepositoryProperties"]  # one schema for requests and responses
    assert props["additionalProperties"] is False
    for key in (
        "setup_command",
        "build_command",
        "test_command",
        "setup_allow_network",
        "sandbox_allow_network",
        "test_timeout_s",
        "env",
        "toolchain",
        "ignore_paths",
    ):
        assert props["properties"][key].get("description"), key
    assert "null or false: the phase is off" in props["properties"]["test_command"]["description"]
    create_props = schemas["RepositoryCreate"]["properties"]["properties"]
    assert "RepositoryProperties" in str(create_props)
    assert "RepositoryProperties" in str(schemas["RepositoryOut"]["properties"]["properties"])


async def test_default_branch_comes_from_the_remote_s_head_when_not_given(
    client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path
) -> None:
    remote = make_bare_repository(tmp_path / "trunk.git", files=2, branch="trunk")
    response = await client.post(
        "/v1/repositories", json={"name": "trunk-repo", "url": str(remote)},
        headers=tenant.headers,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["default_branch"] == "trunk"

    # a remote the API cannot read (private, unreachable) starts on main; PATCH changes it
    unreadable = await client.post(
        "/v1/repositories", json={"name": "missing", "url": str(tmp_path / "nowhere.git")},
        headers=tenant.headers,
    )  # fmt: skip
    assert unreadable.status_code == 201, unreadable.text
    assert unreadable.json()["default_branch"] == "main"


def _project_with_config_file(root: Path) -> Path:
    files = {
        "pyproject.toml": "[project]\nname='calc'\n[tool.pytest.ini_options]\n",
        "calc/__init__.py": "",
        "tests/test_calc.py": "def test_x():\n    assert True\n",
        ".builder.yml": "commands:\n  build: false\n  test: python -m pytest -q tests\n"
        "  setup: pip install -e .\nenv:\n  PYTHONHASHSEED: '0'\ntimeouts:\n  test: 600\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


async def test_config_file_in_the_repository_under_properties_set_through_the_api(
    client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path
) -> None:
    tree = _project_with_config_file(tmp_path / "calc")
    remote = git_remote(FetchedSource("local", "calc", "1", tree), tmp_path / "calc.git")
    repo = await register_repository(client, tenant, url=str(remote))
    path = f"/v1/repositories/{repo['id']}"
    patched = await client.patch(
        path, json={"properties": {"setup_command": None, "test_timeout_s": 120}},
        headers=tenant.headers,
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(remote), str(checkout)], check=True)

    report = analyze_configured_repository(checkout, patched.json()["properties"])

    config = report.configuration
    assert config is not None and config.config_file == ".builder.yml"
    # properties > file: setup is switched off by the property though the file sets it
    assert (config.setup.command, config.setup.source) == (None, "repository properties")
    # file > detection: the file switches the build off and names the test command
    assert (config.build.command, config.build.source) == (None, ".builder.yml")
    assert (config.test.command, config.test.source) == ("python -m pytest -q tests",
                                                         ".builder.yml")  # fmt: skip
    assert config.test.timeout_s == 120  # the property's, over the file's 600
    assert config.env == {"PYTHONHASHSEED": "0"}

    # removing the file's say through properties is not possible; removing the property is
    restored = await client.patch(
        path, json={"remove_properties": ["setup_command"]}, headers=tenant.headers
    )
    again = analyze_configured_repository(checkout, restored.json()["properties"])
    assert again.setup_command == "pip install -e ." and again.command_sources[
        "setup_command"] == ".builder.yml"  # fmt: skip


@pytest.fixture
async def server_url(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_cli_adds_with_the_remote_s_head_and_updates_branch_and_properties(
    server_url: str, tenant: Tenant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = make_bare_repository(tmp_path / "cli.git", files=1, branch="trunk")
    common = ["--api-url", server_url, "--api-key", tenant.key, "--json"]

    def cli(*argv: str) -> dict[str, Any]:
        assert main([*argv, *common]) == 0, capsys.readouterr().err
        out: dict[str, Any] = json.loads(capsys.readouterr().out)
        return out

    added = await asyncio.to_thread(cli, "repos", "add", "cli-repo", str(remote))
    assert added["default_branch"] == "trunk"
    updated = await asyncio.to_thread(
        cli, "repos", "update", "cli-repo", "--default-branch", "develop", "--off", "build",
        "--property", "test_command=python -m unittest -v", "--property", "test_timeout_s=900",
    )  # fmt: skip
    assert updated["default_branch"] == "develop"
    assert updated["properties"] == {
        "build_command": None, "test_command": "python -m unittest -v", "test_timeout_s": 900,
    }  # fmt: skip
    back = await asyncio.to_thread(cli, "repos", "update", "cli-repo", "--unset", "build_command")
    assert back["properties"] == {"test_command": "python -m unittest -v", "test_timeout_s": 900}
    assert (
        main(["repos", "update", "cli-repo", *common]) == 2
    )  # nothing to change: bad input (docs/cli.md)
    assert "nothing to update" in capsys.readouterr().err

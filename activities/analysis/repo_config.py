"""Repository configuration: `.builder.yml` in the repository and the repository's properties
in builder, resolved over what detection found.

Precedence, per setting: repository properties > the file > detection. A phase's command
may be switched off at either level with `null` (in YAML also `~`, `false`, or unquoted
`off`/`no`, which YAML reads as false); a phase switched off at one level stays off whatever
the levels below say. Environment variables merge (properties win per name) and their names
must not look like secrets or builder settings (the sandbox's own `is_secret_name` rule).

The pipeline calls `analyze_configured_repository` on the checkout of the base commit.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from activities.analysis.analyzer import AnalysisLimits, analyze_repository
from activities.analysis.report import AnalysisReport
from activities.sandbox.environment import is_secret_name, secret_name_schema_pattern
from domain.errors import FieldError, ValidationFailed
from domain.repository_configuration import (
    CommandSource,
    PhaseConfiguration,
    ResolvedConfiguration,
)

CONFIG_FILES = (".builder.yml", ".builder.yaml")
MAX_CONFIG_BYTES = 64 * 1024
MAX_TIMEOUT_S = 6 * 3600
MAX_ENV_VARS = 100
MAX_ENV_VALUE = 4096
PHASES = ("setup", "build", "test")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _off_is_none(value: Any) -> Any:
    """`false` (YAML's unquoted off/no too) switches a phase off, like null."""
    return None if value is False else value


_COMMAND_DOC = "a shell command run in the worktree; null or false: the phase is off"
Command = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)] | None,
    BeforeValidator(_off_is_none),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 4000},
                {"type": "null"},
                {"const": False},
            ],
            "description": _COMMAND_DOC,
        }
    ),
]
Timeout = Annotated[int, Field(ge=1, le=MAX_TIMEOUT_S, description="seconds")]
EgressHost = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=253,
        pattern=r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$",
    ),
]  # fmt: skip
Toolchain = Literal["python", "node", "rust", "go", "java"]


# check_env's rule declared in the JSON Schema (OpenAPI and .builder.yml), so a client that
# follows the schema is never refused by the rule
ENV_SCHEMA: dict[str, Any] = {
    "maxProperties": MAX_ENV_VARS,
    "propertyNames": {
        "pattern": _ENV_NAME.pattern, "not": {"pattern": secret_name_schema_pattern()},
    },
    "additionalProperties": {"type": "string", "maxLength": MAX_ENV_VALUE},
}  # fmt: skip


def check_env(env: dict[str, str]) -> dict[str, str]:
    """Names a sandboxed command may receive: valid, and not secret- or setting-like."""
    if len(env) > MAX_ENV_VARS:
        raise ValueError(f"at most {MAX_ENV_VARS} variables, got {len(env)}")
    for name, value in env.items():
        if not _ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        if is_secret_name(name):
            raise ValueError(
                f"{name!r} looks like a secret or a builder setting: such variables are "
                "never passed to repository commands (store secrets in the credential vault)"
            )
        if len(value) > MAX_ENV_VALUE:
            raise ValueError(f"{name}: value longer than {MAX_ENV_VALUE} characters")
    return env


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhaseCommands(_Strict):
    """Commands per phase; a key left out keeps what the level below gives."""

    setup: Command = None
    build: Command = None
    test: Command = None


class PhaseNetwork(_Strict):
    """Whether a phase's commands may use the network. Setup: on unless set to false, and
    only through builder's egress proxy to the allow-listed hosts (the package registries);
    build and test: off unless set, and then the full network."""

    setup: bool | None = None
    build: bool | None = None
    test: bool | None = None


class PhaseTimeouts(_Strict):
    """Wall-clock limit per phase, in seconds."""

    setup: Timeout | None = None
    build: Timeout | None = None
    test: Timeout | None = None


class RepositoryConfigFile(_Strict):
    """`.builder.yml` (or `.builder.yaml`) at the repository root, read at the base commit."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="builder repository configuration (.builder.yml)",
    )

    version: Literal[1] = Field(default=1, description="format version")
    commands: PhaseCommands = Field(default_factory=PhaseCommands)
    env: dict[str, str] = Field(
        default_factory=dict,
        description="variables for every phase; never secrets",
        json_schema_extra=ENV_SCHEMA,
    )
    network: PhaseNetwork = Field(default_factory=PhaseNetwork)
    timeouts: PhaseTimeouts = Field(default_factory=PhaseTimeouts)
    toolchain: dict[Toolchain, str] = Field(
        default_factory=dict, description="language -> version, e.g. {python: '3.11'}"
    )
    ignore: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        default_factory=list,
        max_length=200,
        description="globs (repository paths) left out of analysis and never edited",
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        return check_env(value)


class RepositoryProperties(_Strict):
    """Per-repository settings kept by builder (highest precedence). A command key set to null
    switches that phase off; a key that is absent falls back to `.builder.yml`, then detection.
    """

    setup_command: Command = None
    build_command: Command = None
    test_command: Command = None
    setup_allow_network: bool | None = Field(
        default=None,
        description="setup reaches the egress allow-list (package registries) through "
        "builder's proxy, never the worker's network (default on)",
    )
    build_allow_network: bool | None = Field(
        default=None, description="network for the build (default: sandbox_allow_network)"
    )
    test_allow_network: bool | None = Field(
        default=None, description="network for the tests (default: sandbox_allow_network)"
    )
    sandbox_allow_network: bool | None = Field(
        default=None, description="network for build and tests both (default off)"
    )
    setup_allowed_hosts: list[EgressHost] | None = Field(
        default=None,
        max_length=50,
        description="hosts setup may reach besides the package registries (exact names or "
        "`*.suffix`; loopback, private and link-local addresses stay refused)",
    )
    setup_timeout_s: Timeout | None = Field(
        default=None, description="setup's wall-clock limit in seconds (default: the worker's)"
    )
    build_timeout_s: Timeout | None = Field(
        default=None, description="the build's wall-clock limit in seconds (default: the worker's)"
    )
    test_timeout_s: Timeout | None = Field(
        default=None, description="the tests' wall-clock limit in seconds (default: the worker's)"
    )
    env: dict[str, str] | None = Field(
        default=None,
        description="variables for every phase, over the file's; never secrets",
        json_schema_extra=ENV_SCHEMA,
    )
    toolchain: dict[Toolchain, str] | None = Field(
        default=None, description="language -> version, over the file's"
    )
    ignore_paths: list[Annotated[str, Field(min_length=1, max_length=500)]] | None = Field(
        default=None, max_length=200, description="globs added to the file's `ignore`"
    )

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else check_env(value)

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> RepositoryProperties:
        """Properties as kept on the repository row. Keys builder does not know (written
        before properties were typed) are ignored; a known key with a bad value is refused
        naming the key."""
        known = {k: v for k, v in (stored or {}).items() if k in cls.model_fields}
        try:
            return cls.model_validate(known)
        except ValidationError as exc:
            raise _validation_failed(exc, "repository property") from None


def _validation_failed(exc: ValidationError, what: str) -> ValidationFailed:
    errors = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(root)"
        errors.append(FieldError(key, f"{what} {key!r}: {error['msg']}"))
    return ValidationFailed(errors)


def load_config_file(root: Path) -> tuple[str, RepositoryConfigFile] | None:
    """(file name, parsed file) of the repository's configuration, or None when it has none.

    Raises ValidationFailed naming the file and the key when the file is not valid.
    """
    present = [name for name in CONFIG_FILES if (root / name).is_file()]
    if not present:
        return None
    if len(present) > 1:
        raise ValidationFailed(
            [FieldError(present[1], "both .builder.yml and .builder.yaml exist: keep one")]
        )
    name = present[0]
    path = root / name
    if path.is_symlink():
        raise ValidationFailed([FieldError(name, f"{name} must be a file, not a symbolic link")])
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValidationFailed(
            [FieldError(name, f"{name} is {size} bytes, over the {MAX_CONFIG_BYTES} limit")]
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValidationFailed([FieldError(name, f"{name} is not valid YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise ValidationFailed(
            [FieldError(name, f"{name} must be a mapping of settings, not a {type(data).__name__}")]
        )
    try:
        return name, RepositoryConfigFile.model_validate(data)
    except ValidationError as exc:
        raise _validation_failed(exc, name) from None


def resolve_configuration(
    detected: AnalysisReport,
    config: tuple[str, RepositoryConfigFile] | None,
    properties: RepositoryProperties,
) -> ResolvedConfiguration:
    """Each phase's command, network and timeout by precedence: properties > file > detection."""
    file_name, file = config if config is not None else (None, RepositoryConfigFile())
    file_source: CommandSource = ".builder.yaml" if file_name == ".builder.yaml" else ".builder.yml"
    phases: dict[str, PhaseConfiguration] = {}
    for kind in PHASES:
        prop_key = f"{kind}_command"
        if prop_key in properties.model_fields_set:
            command = getattr(properties, prop_key)
            source: CommandSource = "repository properties"
            reason = f"repository property {prop_key}" + ("" if command else " switches it off")
        elif config is not None and kind in file.commands.model_fields_set:
            command = getattr(file.commands, kind)
            source = file_source
            reason = f"{file_name} commands.{kind}" + ("" if command else " switches it off")
        else:
            command = getattr(detected, prop_key)
            source = "detected" if command else "none"
            reason = detected.command_reasons.get(prop_key, "") or (
                f"no {kind} command detected" if not command else "detected"
            )
        phases[kind] = PhaseConfiguration(
            command=command,
            source=source,
            reason=reason,
            allow_network=_network(kind, file, properties),
            timeout_s=_timeout(kind, file, properties),
        )
    env = {**file.env, **(properties.env or {})}
    toolchain = {str(k): v for k, v in file.toolchain.items()}
    toolchain.update({str(k): v for k, v in (properties.toolchain or {}).items()})
    ignore = list(dict.fromkeys([*file.ignore, *(properties.ignore_paths or [])]))
    return ResolvedConfiguration(
        setup=phases["setup"],
        build=phases["build"],
        test=phases["test"],
        env=env,
        toolchain=toolchain,
        ignore_paths=ignore,
        config_file=file_name,
        setup_allowed_hosts=list(dict.fromkeys(properties.setup_allowed_hosts or [])),
    )


def _network(kind: str, file: RepositoryConfigFile, props: RepositoryProperties) -> bool:
    own = getattr(props, f"{kind}_allow_network")
    if own is not None:
        return bool(own)
    if kind != "setup" and props.sandbox_allow_network is not None:
        return props.sandbox_allow_network
    from_file = getattr(file.network, kind)
    if from_file is not None:
        return bool(from_file)
    # setup reaches the package registries by default, through the egress proxy only;
    # build and test get no network unless configured
    return kind == "setup"


def _timeout(kind: str, file: RepositoryConfigFile, props: RepositoryProperties) -> int | None:
    own = getattr(props, f"{kind}_timeout_s")
    return own if own is not None else getattr(file.timeouts, kind)


def analyze_configured_repository(
    root: Path,
    properties: Mapping[str, Any] | None,
    *,
    limits: AnalysisLimits = AnalysisLimits(),
    progress: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> AnalysisReport:
    """Analyse the base-commit checkout at `root` and resolve its phase configuration.

    The report's setup/build/test commands, `command_sources` and `command_reasons` are the
    resolved ones; `configuration` carries network, timeouts, env, toolchain and ignores.
    Raises ValidationFailed naming the key for bad properties or a bad `.builder.yml`.
    """
    props = RepositoryProperties.from_stored(properties)
    config = load_config_file(Path(root)) if Path(root).is_dir() else None
    ignore = [*(config[1].ignore if config else []), *(props.ignore_paths or [])]
    report = analyze_repository(
        root, limits=limits, progress=progress, cancel=cancel, ignore_paths=ignore
    )
    resolved = resolve_configuration(report, config, props)
    sources: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for kind in PHASES:
        phase = resolved.phase(kind)
        key = f"{kind}_command"
        if phase.source == "detected":
            sources[key] = report.command_sources.get(key, "detected")
        elif phase.source != "none":
            sources[key] = phase.source
        reasons[key] = phase.reason
    return report.model_copy(
        update={
            "setup_command": resolved.setup.command,
            "build_command": resolved.build.command,
            "test_command": resolved.test.command,
            "command_sources": sources,
            "command_reasons": reasons,
            "configuration": resolved,
        }
    )


def config_file_schema() -> dict[str, Any]:
    """The JSON Schema of `.builder.yml` (docs/builder-yml.schema.json is generated from it)."""
    schema = RepositoryConfigFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def write_config_file_schema(path: Path) -> None:
    path.write_text(json.dumps(config_file_schema(), indent=2, sort_keys=True) + "\n")


SCHEMA_DOC = Path(__file__).resolve().parents[2] / "docs" / "builder-yml.schema.json"

if __name__ == "__main__":  # regenerate the documented schema
    write_config_file_schema(SCHEMA_DOC)

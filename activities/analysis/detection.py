"""What every build-system detector shares: the result types and bounded, link-safe reads of
the repository's manifests (a manifest may be a symlink planted to a host file, or a FIFO)."""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass, field
from pathlib import Path

from activities.analysis.report import BuildSystem
from activities.sandbox.untrusted_files import read_regular_file
from domain.setup_plan import (
    EnvironmentSpec,
)

MAKE_TARGET = re.compile(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", re.M)
NPM_NO_TEST = "no test specified"
TEST_EXTRAS = ("test", "tests", "testing", "dev")
TEST_REQUIREMENTS = (
    "requirements-test.txt",
    "requirements-tests.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "requirements-dev.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "tests/requirements.txt",
)
PY_LOCKS = (("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm"),
             ("Pipfile.lock", "pipenv"))  # fmt: skip
MAX_TEST_FILES = 200
TEST_FILE_BYTES = 64_000


@dataclass
class DetectedCommands:
    """Commands found for one build system, why each was chosen, and what setup installs."""

    system: BuildSystem
    language: str | None
    setup: str | None = None
    build: str | None = None
    test: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    environment: EnvironmentSpec | None = None
    dependency_files: list[str] = field(default_factory=list)


@dataclass
class CommandDetection:
    """Every build system found, in the order their commands are preferred."""

    found: list[DetectedCommands] = field(default_factory=list)


def read_manifest(root: Path, name: str, limit: int = 512_000) -> str | None:
    # a manifest may be a symlink the repository planted (to a host file) or a FIFO
    data = read_regular_file(root / name, root, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def parse_ini(text: str | None) -> configparser.ConfigParser | None:
    if text is None:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser


def existing_files(root: Path, names: tuple[str, ...] | list[str]) -> list[str]:
    return [n for n in names if (root / n).is_file()]


# -- Python ----------------------------------------------------------------------------------

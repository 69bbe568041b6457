"""What a repository's environment needs installed, as data (not a shell line).

The analyzer fills one entry per ecosystem it finds; the environment builder (setup phase)
turns each into the installer calls of its toolchain, inside a per-repository environment.
`dependency_files` are the manifests and lock files whose content decides what gets
installed: their hash keys a cached environment.

Shape (JSON):

    {"environments": [
        {"kind": "python", "manifest": "pyproject.toml", "install_project": true,
         "editable": true, "extras": ["test"], "dependency_groups": [],
         "requirement_files": ["requirements-test.txt"], "lock_file": null, "lock_tool": null,
         "build_requires": ["flit_core >=3.3"], "test_packages": []},
        {"kind": "node", "manager": "npm", "lock_file": "package-lock.json", "frozen": true}],
     "dependency_files": ["package-lock.json", "pyproject.toml", "requirements-test.txt"]}
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PythonEnvironment(_Plan):
    """A virtual environment from the worker's interpreter with the project and its tests' needs."""

    kind: Literal["python"] = "python"
    manifest: str = Field(description="the file that makes this a Python project")
    install_project: bool = Field(description="install the worktree itself (it is a package)")
    editable: bool = Field(default=True, description="install it editable, so tests see the change")
    extras: list[str] = Field(default_factory=list, description="optional-dependency groups")
    dependency_groups: list[str] = Field(default_factory=list, description="PEP 735 groups")
    requirement_files: list[str] = Field(default_factory=list, description="pip -r files")
    lock_file: str | None = None
    lock_tool: Literal["uv", "poetry", "pdm", "pipenv"] | None = None
    build_requires: list[str] = Field(
        default_factory=list, description="[build-system] requires: the backend an install needs"
    )
    test_packages: list[str] = Field(
        default_factory=list,
        description="what the detected test runner needs that the project does not declare",
    )


class NodeEnvironment(_Plan):
    """node_modules in the worktree (ignored by git), installed by the project's manager."""

    kind: Literal["node"] = "node"
    manager: Literal["npm", "pnpm", "yarn", "bun"]
    lock_file: str | None = None
    frozen: bool = Field(description="install exactly the lock file (npm ci, --frozen-lockfile)")


class RustEnvironment(_Plan):
    """Crates fetched into a CARGO_HOME; the toolchain the project pins, if any."""

    kind: Literal["rust"] = "rust"
    lock_file: str | None = None
    toolchain_file: str | None = None


class GoEnvironment(_Plan):
    """Modules downloaded into a GOMODCACHE."""

    kind: Literal["go"] = "go"
    go_version: str | None = Field(default=None, description="the go.mod `go` directive")
    has_sum: bool = False


class JvmEnvironment(_Plan):
    """Dependencies resolved into the build tool's cache."""

    kind: Literal["maven", "gradle"]
    wrapper: bool = Field(description="the repository ships ./mvnw or ./gradlew")


EnvironmentSpec = Annotated[
    PythonEnvironment | NodeEnvironment | RustEnvironment | GoEnvironment | JvmEnvironment,
    Field(discriminator="kind"),
]


class SetupPlan(_Plan):
    """Every environment a repository needs, and the files that decide their content."""

    environments: list[EnvironmentSpec] = Field(default_factory=list)
    dependency_files: list[str] = Field(default_factory=list)

"""The resolved configuration of a repository's setup, build and test phases.

It is what detection, the repository's `.builder.yml` and its properties add up to, with the
origin of every command, so a run can say why it ran what it ran. Precedence: repository
properties over the file over detection; a level that switches a phase off (command `null`)
stops the levels below it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CommandSource = Literal[
    "repository properties", ".builder.yml", ".builder.yaml", "detected", "none"
]


class PhaseConfiguration(BaseModel):
    """One phase: the command (None: the phase does not run), where it came from, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str | None
    source: CommandSource
    reason: str = Field(description="why this command (or why none)")
    allow_network: bool = False
    timeout_s: int | None = Field(default=None, description="None: the worker's default limit")


class ResolvedConfiguration(BaseModel):
    """Setup, build and test as they will run, plus what every phase shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    setup: PhaseConfiguration
    build: PhaseConfiguration
    test: PhaseConfiguration
    env: dict[str, str] = Field(
        default_factory=dict, description="variables every phase gets (never secrets)"
    )
    toolchain: dict[str, str] = Field(
        default_factory=dict, description="language -> version the repository asks for"
    )
    ignore_paths: list[str] = Field(
        default_factory=list, description="globs left out of analysis and never edited"
    )
    config_file: str | None = Field(default=None, description="the file read, if any")
    setup_allowed_hosts: list[str] = Field(
        default_factory=list, description="hosts setup's egress allows besides the registries"
    )

    def phase(self, kind: str) -> PhaseConfiguration:
        if kind not in ("setup", "build", "test"):
            raise ValueError(f"unknown phase {kind!r}: expected setup, build or test")
        phase: PhaseConfiguration = getattr(self, kind)
        return phase

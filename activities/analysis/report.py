"""The analysis report and dependency graph: what the planner knows about a repository.

Both are pydantic models so they are stored as the `analysis_report` and
`dependency_graph` JSON artifacts and read back without loss.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.repository_configuration import ResolvedConfiguration
from domain.setup_plan import SetupPlan


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LanguageShare(_Model):
    """One language of the repository and its share of source bytes."""

    name: str
    files: int
    bytes: int
    share: float = Field(description="fraction of analysed source bytes, 0..1")


class BuildSystem(_Model):
    """A build system found through its manifest file."""

    name: str
    manifest: str


class Symbol(_Model):
    """A top-level definition in a source file."""

    name: str
    kind: str
    line: int


class FileEntry(_Model):
    """One file of the repository map."""

    path: str
    size: int
    language: str | None = None
    symbols: list[Symbol] = Field(default_factory=list)
    skipped: str | None = Field(
        default=None, description="why the content was not analysed (binary, generated, ...)"
    )


class SkippedCounts(_Model):
    """How many files or directories were left out of content analysis, by reason."""

    vendored_dirs: int = 0
    binary: int = 0
    generated: int = 0
    too_large: int = 0
    over_file_cap: int = 0
    over_time_budget: int = 0
    unreadable: int = 0
    ignored: int = Field(default=0, description="files or folders the configuration ignores")


class DependencyEdge(_Model):
    """`source` imports `target` (both repository paths)."""

    source: str
    target: str


class DependencyGraph(_Model):
    """Import graph between repository files, plus the external modules each file uses."""

    nodes: list[str] = Field(default_factory=list)
    edges: list[DependencyEdge] = Field(default_factory=list)
    external: dict[str, list[str]] = Field(
        default_factory=dict, description="file -> external modules/packages it imports"
    )


class AnalysisReport(_Model):
    """Languages, build commands and repository map of one checkout."""

    languages: list[LanguageShare] = Field(default_factory=list)
    primary_language: str | None = None
    build_systems: list[BuildSystem] = Field(default_factory=list)
    setup_command: str | None = None
    build_command: str | None = None
    test_command: str | None = None
    command_sources: dict[str, str] = Field(
        default_factory=dict,
        description="command name -> 'repository properties', '.builder.yml' or the manifest "
        "it was detected from",
    )
    command_reasons: dict[str, str] = Field(
        default_factory=dict,
        description="command name -> why it was chosen, e.g. 'python -m pytest -q "
        "(pyproject.toml has [tool.pytest.ini_options])'",
    )
    setup_plan: SetupPlan = Field(
        default_factory=SetupPlan, description="what the repository's environment must install"
    )
    configuration: ResolvedConfiguration | None = Field(
        default=None,
        description="phases as they will run (properties > .builder.yml > detection)",
    )
    files: list[FileEntry] = Field(default_factory=list)
    total_files: int = 0
    total_bytes: int = 0
    skipped: SkippedCounts = Field(default_factory=SkippedCounts)
    truncated: bool = Field(default=False, description="a limit stopped the analysis early")
    duration_seconds: float = 0.0
    # stored as its own artifact, so it stays out of the report's JSON
    dependency_graph: DependencyGraph = Field(default_factory=DependencyGraph, exclude=True)

    def paths(self) -> set[str]:
        """Every file path of the repository map."""
        return {f.path for f in self.files}

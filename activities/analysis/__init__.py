"""Repository analysis: languages, build/test commands, repository map, import graph."""

from activities.analysis.analyzer import AnalysisFailed, AnalysisLimits, analyze_repository
from activities.analysis.report import (
    AnalysisReport,
    BuildSystem,
    DependencyEdge,
    DependencyGraph,
    FileEntry,
    LanguageShare,
    SkippedCounts,
    Symbol,
)

__all__ = [
    "AnalysisFailed",
    "AnalysisLimits",
    "AnalysisReport",
    "BuildSystem",
    "DependencyEdge",
    "DependencyGraph",
    "FileEntry",
    "LanguageShare",
    "SkippedCounts",
    "Symbol",
    "analyze_repository",
]

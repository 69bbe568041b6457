"""Build systems of a repository, the build/test commands they imply, why, and what the
environment must install (a declarative SetupPlan entry, see domain/setup_plan.py).

The project decides, not folder names: a test runner is taken from the project's own
configuration first (tox envs, nox sessions, pytest configuration, Makefile test recipes,
package.json scripts), then from what its test files and test dependencies use. Only files at
the repository root (and its top test folder) are read, each bounded in size. Test commands
are chosen to run quickly and print deterministic results (quiet flags, no watch mode).

Python gets no setup *command*: installing into the worker's interpreter cannot work (no
network, read-only site-packages) and must not (tests would see the installed copy); the
environment builder installs the SetupPlan entry into a per-repository environment instead.
"""

from __future__ import annotations

from pathlib import Path

from activities.analysis.detection import CommandDetection, DetectedCommands
from activities.analysis.python_commands import detect_python
from activities.analysis.toolchain_commands import (
    detect_cargo,
    detect_go,
    detect_gradle,
    detect_make,
    detect_maven,
    detect_node,
)

_DETECTORS = (
    detect_python,
    detect_node,
    detect_go,
    detect_cargo,
    detect_maven,
    detect_gradle,
    detect_make,
)


def detect_build_systems(root: Path, language_rank: list[str]) -> CommandDetection:
    """Build systems at `root`, ordered so the one of the dominant language comes first.

    Make comes last: it is a fallback for repositories without a language-native tool.
    """
    found = [d for d in (det(root) for det in _DETECTORS) if d is not None]

    def rank(d: DetectedCommands) -> int:
        if d.language is None:
            return len(language_rank) + 1
        if d.language in language_rank:
            return language_rank.index(d.language)
        # TypeScript repos still build through package.json
        if d.language == "TypeScript" and "JavaScript" in language_rank:
            return language_rank.index("JavaScript")
        if d.language == "JavaScript" and "TypeScript" in language_rank:
            return language_rank.index("TypeScript")
        return len(language_rank)

    found.sort(key=rank)
    return CommandDetection(found=found)

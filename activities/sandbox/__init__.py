"""Build and test sandbox: runs a repository's own (untrusted) commands isolated under
bubblewrap, bounded in time, memory, CPU and output, and parses the reports they write."""

from activities.sandbox.bubblewrap import EnvironmentMount
from activities.sandbox.config import SandboxConfig
from activities.sandbox.phases import (
    BuildPhaseFailed,
    PhaseKind,
    PhaseResult,
    PhaseTimedOut,
    TestPhaseFailed,
    run_phase,
)
from activities.sandbox.reports.coverage import CoverageReport
from activities.sandbox.reports.junit import TestFailure, TestReport
from activities.sandbox.runner import CommandResult, SandboxRunner

__all__ = [
    "BuildPhaseFailed",
    "CommandResult",
    "CoverageReport",
    "EnvironmentMount",
    "PhaseKind",
    "PhaseResult",
    "PhaseTimedOut",
    "SandboxConfig",
    "SandboxRunner",
    "TestFailure",
    "TestPhaseFailed",
    "TestReport",
    "run_phase",
]

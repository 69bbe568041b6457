"""Repository analyzer: one bounded pass over a checkout producing the analysis report.

Bounded on purpose: vendored directories are pruned before descending, binary and generated
files are recognised by name or first bytes, and caps on files read, bytes per file and
wall-clock time keep a huge repository from stalling the analyze activity.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities.analysis import imports
from activities.analysis.commands import detect_build_systems
from activities.analysis.languages import (
    VENDORED_DIRS,
    is_binary_name,
    is_generated_name,
    language_of,
    looks_binary,
    looks_generated,
)
from activities.analysis.report import (
    AnalysisReport,
    FileEntry,
    LanguageShare,
    SkippedCounts,
)
from activities.analysis.symbols import top_level_symbols
from activities.sandbox.untrusted_files import read_regular_file
from domain.cancellation import raise_if_cancelled
from domain.enums import ErrorCode
from domain.errors import DomainError, FieldError, ValidationFailed
from domain.paths import matches_glob
from domain.setup_plan import SetupPlan

COMMAND_KEYS = ("setup_command", "build_command", "test_command")


class AnalysisFailed(DomainError):
    """The repository could not be analysed at all (missing or unreadable root)."""

    code = ErrorCode.ANALYSIS_FAILED


@dataclass(frozen=True)
class AnalysisLimits:
    """Caps that bound one analysis in time and memory."""

    max_files_read: int = 20_000
    max_bytes_per_file: int = 256_000
    max_map_files: int = 100_000
    max_symbols_per_file: int = 200
    time_budget_seconds: float = 8.0


ProgressCallback = Callable[[str], None]


def _check_overrides(overrides: dict[str, Any] | None) -> dict[str, str | None]:
    """Command overrides from repository properties (None or False: the phase is off);
    other property keys are ignored."""
    if not overrides:
        return {}
    errors = []
    out: dict[str, str | None] = {}
    for key in COMMAND_KEYS:
        if key not in overrides:
            continue
        value = overrides[key]
        if value is None or value is False:
            out[key] = None
        elif not isinstance(value, str) or not value.strip():
            errors.append(FieldError(key, f"{key} override must be a non-empty string"))
        else:
            out[key] = value.strip()
    if errors:
        raise ValidationFailed(errors)
    return out


def _ignored(path: str, patterns: Sequence[str]) -> bool:
    return any(matches_glob(path, pattern) for pattern in patterns)


def _go_module(root: Path) -> str | None:
    data = read_regular_file(root / "go.mod", root, 1_000_000)
    try:
        for line in (data or b"").decode("utf-8", errors="replace").splitlines():
            if line.startswith("module "):
                return line.split()[1]
    except IndexError:
        return None
    return None


def analyze_repository(
    root: Path,
    *,
    overrides: dict[str, Any] | None = None,
    limits: AnalysisLimits = AnalysisLimits(),
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    ignore_paths: Sequence[str] = (),
) -> AnalysisReport:
    """Analyse the checkout at `root`; files matching an `ignore_paths` glob stay out of the
    map. (`analyze_configured_repository` in repo_config adds the repository's configuration.)

    Raises AnalysisFailed when `root` is not a directory, ValidationFailed when an override is
    not a non-empty string, OperationCancelled when `cancel` is set.
    """
    started = time.monotonic()
    deadline = started + limits.time_budget_seconds
    root = Path(root)
    if not root.is_dir():
        raise AnalysisFailed(f"repository root {str(root)!r} is not a directory")
    command_overrides = _check_overrides(overrides)

    skipped = SkippedCounts()
    entries: list[FileEntry] = []
    texts: dict[str, tuple[str, str]] = {}  # path -> (language, text) for import parsing
    lang_bytes: dict[str, int] = {}
    lang_files: dict[str, int] = {}
    files_read = 0
    total_bytes = 0
    truncated = False
    seen = 0

    for dirpath, dirnames, filenames in os.walk(root):
        # prune in place so os.walk never descends into vendored trees
        kept = []
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        for d in sorted(dirnames):
            if d in VENDORED_DIRS or d.endswith(".egg-info"):
                skipped.vendored_dirs += 1
            elif _ignored(rel_dir + d, ignore_paths):
                skipped.ignored += 1
            elif not os.path.islink(os.path.join(dirpath, d)):
                kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            seen += 1
            if seen % 512 == 0:
                raise_if_cancelled(cancel, "repository analysis")
                if progress is not None:
                    progress(f"analysed {seen} files")
            if len(entries) >= limits.max_map_files:
                truncated = True
                break
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                skipped.unreadable += 1
                continue
            if not os.path.isfile(full) or os.path.islink(full):
                continue
            path = rel_dir + name
            if _ignored(path, ignore_paths):
                skipped.ignored += 1
                continue
            size = st.st_size
            total_bytes += size
            language = language_of(name)
            entry = FileEntry(path=path, size=size, language=language)
            entries.append(entry)
            if is_binary_name(name):
                skipped.binary += 1
                entry.skipped = "binary"
                continue
            if is_generated_name(name):
                skipped.generated += 1
                entry.skipped = "generated"
                continue
            if language is None:
                continue
            if size > limits.max_bytes_per_file:
                skipped.too_large += 1
                entry.skipped = "too_large"
                continue
            if files_read >= limits.max_files_read:
                skipped.over_file_cap += 1
                entry.skipped = "over_file_cap"
                truncated = True
                continue
            if time.monotonic() > deadline:
                skipped.over_time_budget += 1
                entry.skipped = "over_time_budget"
                truncated = True
                continue
            try:
                with open(full, "rb") as fh:
                    data = fh.read(limits.max_bytes_per_file)
            except OSError:
                skipped.unreadable += 1
                entry.skipped = "unreadable"
                continue
            files_read += 1
            if looks_binary(data):
                skipped.binary += 1
                entry.skipped = "binary"
                continue
            if looks_generated(data):
                skipped.generated += 1
                entry.skipped = "generated"
                continue
            text = data.decode("utf-8", errors="replace")
            lang_bytes[language] = lang_bytes.get(language, 0) + size
            lang_files[language] = lang_files.get(language, 0) + 1
            entry.symbols = top_level_symbols(language, text, limits.max_symbols_per_file)
            texts[path] = (language, text)
        else:
            continue
        break  # the map cap was hit inside the file loop

    source_bytes = sum(lang_bytes.values()) or 1
    languages = sorted(
        (
            LanguageShare(
                name=lang,
                files=lang_files[lang],
                bytes=b,
                share=round(b / source_bytes, 4),
            )
            for lang, b in lang_bytes.items()
        ),
        key=lambda s: (-s.bytes, s.name),
    )
    rank = [s.name for s in languages]
    detection = detect_build_systems(root, rank)

    commands: dict[str, str | None] = dict.fromkeys(COMMAND_KEYS)
    sources: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for found in detection.found:
        for key, value in (
            ("setup_command", found.setup),
            ("build_command", found.build),
            ("test_command", found.test),
        ):
            if commands[key] is None and value:
                commands[key] = value
                sources[key] = found.system.manifest
                reasons[key] = found.reasons.get(key.removesuffix("_command"), "")
    for key, value in command_overrides.items():
        commands[key] = value
        sources[key] = "override"
        reasons[key] = f"repository property {key}" + ("" if value else " switches it off")
    plan = SetupPlan(
        environments=[d.environment for d in detection.found if d.environment is not None],
        dependency_files=sorted({f for d in detection.found for f in d.dependency_files}),
    )

    graph = _dependency_graph(root, entries, texts, deadline)
    return AnalysisReport(
        languages=languages,
        primary_language=rank[0] if rank else None,
        build_systems=[d.system for d in detection.found],
        setup_command=commands["setup_command"],
        build_command=commands["build_command"],
        test_command=commands["test_command"],
        command_sources=sources,
        command_reasons=reasons,
        setup_plan=plan,
        files=entries,
        total_files=len(entries),
        total_bytes=total_bytes,
        skipped=skipped,
        truncated=truncated,
        duration_seconds=round(time.monotonic() - started, 3),
        dependency_graph=graph,
    )


def _dependency_graph(
    root: Path,
    entries: list[FileEntry],
    texts: dict[str, tuple[str, str]],
    deadline: float,
) -> imports.DependencyGraph:
    resolver = imports.ImportResolver((e.path for e in entries), _go_module(root))
    internal: dict[str, list[str]] = {}
    external: dict[str, list[str]] = {}
    for path, (language, text) in texts.items():
        if time.monotonic() > deadline:
            break
        if language == "Python":
            found = resolver.python(path, imports.python_imports(path, text))
        elif language in ("JavaScript", "TypeScript"):
            found = resolver.js(path, imports.js_imports(text))
        elif language == "Go":
            found = resolver.go(path, imports.go_imports(text))
        elif language == "Rust":
            found = resolver.rust(path, *imports.rust_imports(text))
        elif language == "Java":
            found = resolver.java(path, imports.java_imports(text))
        else:
            continue
        internal[path], external[path] = found
    return imports.build_graph(list(texts), internal, external)

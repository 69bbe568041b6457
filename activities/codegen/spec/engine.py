"""The `spec` engine: deterministic, offline edits from the request's declared changes.

Each declared change becomes one plan step; generating a step computes its edits against the
current view (the worktree after the earlier steps), so a change that no longer applies
fails with a precise message instead of producing a wrong file.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from activities.analysis.report import AnalysisReport
from activities.codegen.budget import Budget
from activities.codegen.engine import (
    FeatureRequest,
    GenerationResult,
    PlanResult,
    ProgressCallback,
    validate_plan,
)
from activities.codegen.spec import manifests
from activities.codegen.spec.unified_diff import apply_file_patch, parse_unified_diff
from activities.codegen.workspace import EditedWorkspace, WorkspaceView, normalize_path
from domain.cancellation import raise_if_cancelled
from domain.changes import (
    AddDependency,
    ApplyDiff,
    DeclaredChange,
    DeleteFile,
    RegexReplace,
    RenameFile,
    ReplaceText,
    WriteFile,
)
from domain.edits import DeleteEdit, FileEdit, RenameEdit, WriteEdit
from domain.enums import StepType
from domain.errors import GenerationFailed, PlanningFailed
from domain.paths import matches_glob
from domain.values import ExecutionPlan, PlanStep

_MANIFESTS = {
    "npm": "package.json",
    "go": "go.mod",
    "cargo": "Cargo.toml",
}


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class _Files:
    """Which paths exist while the plan is simulated step by step."""

    def __init__(self, view: WorkspaceView | None, analysis: AnalysisReport | None) -> None:
        self.view = view
        self.known = analysis.paths() if analysis is not None else set()
        self.created: set[str] = set()
        self.removed: set[str] = set()

    def exists(self, path: str) -> bool:
        if path in self.created:
            return True
        if path in self.removed:
            return False
        if self.view is not None:
            return self.view.exists(path)
        return path in self.known

    def matching(self, glob: str) -> list[str]:
        base = set(self.view.list_files()) if self.view is not None else set(self.known)
        paths = (base | self.created) - self.removed
        return sorted(p for p in paths if matches_glob(p, glob))

    def add(self, path: str) -> None:
        self.created.add(path)
        self.removed.discard(path)

    def remove(self, path: str) -> None:
        self.removed.add(path)
        self.created.discard(path)


def python_manifest(exists: bool, pyproject_has_project: bool) -> str:
    """pyproject.toml when it declares a [project], requirements.txt otherwise."""
    return "pyproject.toml" if exists and pyproject_has_project else "requirements.txt"


class SpecEngine:
    """Change engine for requests that carry their own declared changes."""

    kind = "spec"

    def plan(
        self,
        request: FeatureRequest,
        analysis: AnalysisReport | None,
        *,
        view: WorkspaceView | None = None,
        budget: Budget | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> PlanResult:
        """One step per declared change; raises PlanningFailed without changes."""
        if not request.changes:
            raise PlanningFailed("the spec engine needs declared changes; the request has none")
        files = _Files(view, analysis)
        steps: list[PlanStep] = []
        for index, change in enumerate(request.changes):
            raise_if_cancelled(cancel, "planning")
            step_type, targets, description = self._describe(change, files)
            steps.append(
                PlanStep(
                    index=index,
                    description=change.description or description,
                    type=step_type,
                    target_files=targets,
                    dependencies=[index - 1] if index else [],
                )
            )
        affected = sorted({t for s in steps for t in s.target_files})
        plan = ExecutionPlan(
            steps=steps,
            affected_files=affected,
            summary=f"{request.title}: {len(steps)} declared change(s)",
            estimated_duration_seconds=5 * len(steps),
        )
        validate_plan(plan, request.constraints)
        return PlanResult(plan=plan)

    def _describe(self, change: DeclaredChange, files: _Files) -> tuple[StepType, list[str], str]:
        if isinstance(change, WriteFile):
            path = normalize_path(change.path)
            existed = files.exists(path)
            files.add(path)
            if existed:
                return StepType.MODIFY_FILE, [path], f"Rewrite {path}"
            return StepType.CREATE_FILE, [path], f"Create {path}"
        if isinstance(change, ReplaceText):
            path = normalize_path(change.path)
            return StepType.MODIFY_FILE, [path], f"Replace {_short(change.search, 40)} in {path}"
        if isinstance(change, RegexReplace):
            targets = files.matching(change.glob)
            return (
                StepType.MODIFY_FILE,
                targets,
                f"Replace /{change.pattern}/ in files matching {change.glob}",
            )
        if isinstance(change, ApplyDiff):
            targets = []
            for patch in parse_unified_diff(change.diff):
                for p in (patch.old_path, patch.new_path):
                    if p is not None and normalize_path(p) not in targets:
                        targets.append(normalize_path(p))
                if patch.new_path is None and patch.old_path:
                    files.remove(normalize_path(patch.old_path))
                elif patch.new_path:
                    files.add(normalize_path(patch.new_path))
            return StepType.MODIFY_FILE, targets, f"Apply a diff to {', '.join(targets)}"
        if isinstance(change, DeleteFile):
            path = normalize_path(change.path)
            files.remove(path)
            return StepType.DELETE_FILE, [path], f"Delete {path}"
        if isinstance(change, RenameFile):
            old, new = normalize_path(change.path), normalize_path(change.new_path)
            files.remove(old)
            files.add(new)
            return StepType.RENAME_FILE, [old, new], f"Rename {old} to {new}"
        manifest = self._manifest_path(change, files.exists, None)
        kind = "dev dependency" if change.dev else "dependency"
        return (
            StepType.ADD_DEPENDENCY,
            [manifest],
            f"Add {kind} {change.name} {change.version} to {manifest}",
        )

    @staticmethod
    def _manifest_path(
        change: AddDependency, exists: Callable[[str], bool], view: WorkspaceView | None
    ) -> str:
        if change.manifest:
            return normalize_path(change.manifest)
        if change.ecosystem != "python":
            return _MANIFESTS[change.ecosystem]
        has_project = False
        if view is not None and view.exists("pyproject.toml"):
            has_project = (
                re.search(r"^\[project\]", view.read_text("pyproject.toml") or "", re.M) is not None
            )
        elif exists("pyproject.toml"):
            # without file content at plan time, a pyproject that exists is assumed to be PEP 621
            has_project = True
        return python_manifest(exists("pyproject.toml"), has_project)

    def generate(
        self,
        request: FeatureRequest,
        step: PlanStep,
        view: WorkspaceView,
        budget: Budget,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        """Edits of the declared change behind `step`; GenerationFailed if it does not apply."""
        changes = request.changes or []
        if not 0 <= step.index < len(changes):
            raise GenerationFailed(
                f"step {step.index} has no declared change (the request declares {len(changes)})"
            )
        raise_if_cancelled(cancel, f"step {step.index}")
        change = changes[step.index]
        edits = self._edits(change, view, cancel)
        return GenerationResult(edits=edits, notes=[f"{change.op}: {len(edits)} edit(s)"])

    def repair(
        self,
        request: FeatureRequest,
        failure_log: str,
        view: WorkspaceView,
        budget: Budget,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        raise GenerationFailed(
            "the spec engine cannot repair a failed build or test: declared changes are "
            "applied as given; fix the declared changes or configure a model"
        )

    def _edits(
        self, change: DeclaredChange, view: WorkspaceView, cancel: threading.Event | None
    ) -> list[FileEdit]:
        if isinstance(change, WriteFile):
            return [WriteEdit(path=normalize_path(change.path), content=change.content)]
        if isinstance(change, ReplaceText):
            return [self._replace_text(change, view)]
        if isinstance(change, RegexReplace):
            return self._regex_replace(change, view, cancel)
        if isinstance(change, ApplyDiff):
            return self._apply_diff(change, view)
        if isinstance(change, DeleteFile):
            path = normalize_path(change.path)
            if not view.exists(path):
                raise GenerationFailed(f"delete_file: {path} does not exist")
            return [DeleteEdit(path=path)]
        if isinstance(change, RenameFile):
            old, new = normalize_path(change.path), normalize_path(change.new_path)
            if not view.exists(old):
                raise GenerationFailed(f"rename_file: {old} does not exist")
            if view.exists(new):
                raise GenerationFailed(f"rename_file: destination {new} already exists")
            return [RenameEdit(path=old, new_path=new)]
        return [self._add_dependency(change, view)]

    @staticmethod
    def _replace_text(change: ReplaceText, view: WorkspaceView) -> FileEdit:
        path = normalize_path(change.path)
        content = view.read_text(path)
        if content is None:
            raise GenerationFailed(f"replace_text: {path} does not exist or is not text")
        found = content.count(change.search)
        if found != change.count:
            noun = "occurrence" if change.count == 1 else "occurrences"
            raise GenerationFailed(
                f"expected {change.count} {noun} of {_short(change.search)} in {path}, "
                f"found {found}",
                details={"path": path, "expected": change.count, "found": found},
            )
        return WriteEdit(path=path, content=content.replace(change.search, change.replace))

    @staticmethod
    def _regex_replace(
        change: RegexReplace, view: WorkspaceView, cancel: threading.Event | None
    ) -> list[FileEdit]:
        try:
            pattern = re.compile(change.pattern, re.M)
        except re.error as exc:
            raise GenerationFailed(
                f"regex_replace: invalid pattern {change.pattern!r}: {exc}"
            ) from None
        edits: list[FileEdit] = []
        total = 0
        searched = 0
        for path in view.list_files(change.glob):
            raise_if_cancelled(cancel, "regex_replace")
            content = view.read_text(path)
            if content is None:
                continue
            searched += 1
            try:
                new, n = pattern.subn(change.replacement, content)
            except (re.error, IndexError) as exc:
                raise GenerationFailed(
                    f"regex_replace: replacement {change.replacement!r} is invalid for "
                    f"{change.pattern!r}: {exc}"
                ) from None
            total += n
            if n and new != content:
                edits.append(WriteEdit(path=path, content=new))
        if total < change.min_matches:
            raise GenerationFailed(
                f"regex {change.pattern!r} matched {total} time(s) in {searched} file(s) "
                f"matching {change.glob!r}, expected at least {change.min_matches}",
                details={"glob": change.glob, "matches": total, "files": searched},
            )
        return edits

    @staticmethod
    def _apply_diff(change: ApplyDiff, view: WorkspaceView) -> list[FileEdit]:
        overlay = EditedWorkspace(view)
        edits: list[FileEdit] = []
        for patch in parse_unified_diff(change.diff):
            old = normalize_path(patch.old_path) if patch.old_path else None
            new = normalize_path(patch.new_path) if patch.new_path else None
            current = overlay.read_text(old) if old else (overlay.read_text(new) if new else None)
            if old is not None and current is None and overlay.exists(old):
                raise GenerationFailed(f"diff modifies {old} but it is not a text file")
            result = apply_file_patch(patch, current)
            edit: FileEdit
            if old is not None and new is not None and old != new:
                if overlay.exists(new):
                    raise GenerationFailed(f"diff renames {old} to {new} but {new} already exists")
                edit = RenameEdit(path=old, new_path=new, content=result)
            elif result is None:
                edit = DeleteEdit(path=old or "")
            else:
                edit = WriteEdit(path=new or old or "", content=result)
            overlay.apply(edit)
            edits.append(edit)
        return edits

    def _add_dependency(self, change: AddDependency, view: WorkspaceView) -> FileEdit:
        path = self._manifest_path(change, view.exists, view)
        content = view.read_text(path)
        if content is None and not (change.ecosystem == "python" and path.endswith(".txt")):
            raise GenerationFailed(
                f"add_dependency: manifest {path} for {change.ecosystem} does not exist"
            )
        content = content or ""
        name = path.rsplit("/", 1)[-1]
        if change.ecosystem == "python":
            if name.endswith(".toml"):
                new = manifests.bump_pyproject(
                    content, change.name, change.version, change.dev, path
                )
                manifests.verify_toml(new, path)
            else:
                new = manifests.bump_requirements_txt(content, change.name, change.version)
        elif change.ecosystem == "npm":
            new = manifests.bump_package_json(
                content, change.name, change.version, change.dev, path
            )
        elif change.ecosystem == "go":
            new = manifests.bump_go_mod(content, change.name, change.version)
        else:
            new = manifests.bump_cargo_toml(content, change.name, change.version, change.dev, path)
            manifests.verify_toml(new, path)
        return WriteEdit(path=path, content=new)

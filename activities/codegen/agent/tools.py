"""The agent's tools, run against the worktree: path rules and `.git` are checked on every
call, outputs are bounded, commands run in the sandbox without network."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from activities.codegen.agent import snapshot
from activities.codegen.agent import tasks as _tasks
from activities.codegen.agent.models import ToolSpec
from activities.codegen.agent.protocol import ToolCall, ToolOutcome
from activities.codegen.llm.matching import MatchProblem, apply_search_replace
from activities.codegen.workspace import FilesystemWorkspace, normalize_path
from activities.sandbox import SandboxRunner
from domain.edits import WriteEdit
from domain.errors import PolicyViolation
from domain.paths import path_violation
from domain.values import FeatureConstraints

MAX_READ_CHARS = 20_000
MAX_LIST = 400
MAX_MATCHES = 100
MAX_LINE = 240


def _obj(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required}


_S = {"type": "string"}
_I = {"type": "integer"}

TOOLS = [
    ToolSpec("read_file", "Read a text file, optionally lines start_line..end_line (1-based).",
             _obj({"path": _S, "start_line": _I, "end_line": _I}, ["path"])),
    ToolSpec("list_files", "List repository files, optionally matching a glob like 'src/**/*.py'.",
             _obj({"glob": _S}, [])),
    ToolSpec("search", "Search files for a regular expression; returns path:line: text.",
             _obj({"pattern": _S, "glob": _S}, ["pattern"])),
    ToolSpec("edit_file", "Replace `old` (copied from the file, once) with `new` in a file.",
             _obj({"path": _S, "old": _S, "new": _S}, ["path", "old", "new"])),
    ToolSpec("write_file", "Create or overwrite a whole file.",
             _obj({"path": _S, "content": _S}, ["path", "content"])),
    ToolSpec("run", "Run a shell command in the repository (sandboxed, no network, bounded).",
             _obj({"command": _S, "timeout_seconds": _I}, ["command"])),
    ToolSpec("finish", "Stop: the change is complete. Give a short summary.",
             _obj({"summary": _S}, ["summary"])),
]  # fmt: skip


class ToolFailure(Exception):
    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass
class ToolBox:
    root: Path
    constraints: FeatureConstraints
    runner: SandboxRunner
    env: dict[str, str] = field(default_factory=dict)
    command_timeout_s: float = 300.0
    output_chars: int = 8_000
    fuzzy_threshold: float = 0.85
    cancel: threading.Event | None = None
    on_line: Callable[[str], None] | None = None
    # the conversation's place: step -1 declares tasks (only exploring when `strict`), a
    # step >= 0 works on task `step_index` of `declared`
    step_index: int = 0
    strict: bool = False
    declared: list[str] = field(default_factory=list)

    def run(self, call: ToolCall) -> ToolOutcome:
        started = time.monotonic()
        try:
            if call.invalid_arguments is not None:
                raise ToolFailure("the arguments are not a JSON object")
            why = _tasks.refusal(call.name, self.step_index, self.strict)
            if why:
                raise ToolFailure(why)
            handler = getattr(self, f"_tool_{call.name}", None)
            if handler is None:
                raise ToolFailure(f"unknown tool {call.name!r}")
            try:
                content, kind = handler(**call.arguments)
            except TypeError as exc:
                raise ToolFailure(f"bad arguments for {call.name}: {exc}") from None
            return ToolOutcome(call_id=call.id, name=call.name, content=content, kind=kind,
                               duration_s=round(time.monotonic() - started, 3))  # fmt: skip
        except PolicyViolation as exc:
            failure = ToolFailure(exc.message, "policy")
        except ToolFailure as exc:
            failure = exc
        return ToolOutcome(
            call_id=call.id, name=call.name, content=f"error: {failure.message}", is_error=True,
            kind=failure.kind, duration_s=round(time.monotonic() - started, 3),
        )  # fmt: skip

    # ---- paths -------------------------------------------------------------------------

    def _readable(self, path: str) -> str:
        return normalize_path(path)  # refuses `.git`, absolute paths and `..`

    def _writable(self, path: str) -> str:
        norm = normalize_path(path)
        why = path_violation(norm, self.constraints.allowed_paths, self.constraints.forbidden_paths)
        if why:
            raise PolicyViolation(f"{why}; it may not be changed")
        return norm

    def _files(self, glob: str | None) -> list[str]:
        repo = pygit2.Repository(str(self.root))
        files = FilesystemWorkspace(self.root).list_files(glob)
        return [p for p in files if not repo.path_is_ignored(p)]

    # ---- tools -------------------------------------------------------------------------

    def _tool_read_file(
        self, path: str, start_line: int | None = None, end_line: int | None = None
    ) -> tuple[str, None]:
        norm = self._readable(path)
        text = FilesystemWorkspace(self.root).read_text(norm)
        if text is None:
            raise ToolFailure(f"{norm} does not exist or is not a text file")
        lines = text.splitlines()
        first = max(1, start_line or 1)
        last = min(len(lines), end_line or len(lines))
        body = "\n".join(f"{n}\t{lines[n - 1]}" for n in range(first, last + 1))
        if len(body) > MAX_READ_CHARS:
            body = body[:MAX_READ_CHARS] + "\n[truncated: read a line range]"
        return f"{norm} ({len(lines)} lines)\n{body}", None

    def _tool_list_files(self, glob: str | None = None) -> tuple[str, None]:
        files = self._files(glob)
        shown = files[:MAX_LIST]
        more = f"\n[{len(files) - MAX_LIST} more]" if len(files) > MAX_LIST else ""
        return ("\n".join(shown) or "(no files)") + more, None

    def _tool_search(self, pattern: str, glob: str | None = None) -> tuple[str, None]:
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolFailure(f"invalid regular expression: {exc}") from None
        view = FilesystemWorkspace(self.root)
        hits: list[str] = []
        for path in self._files(glob):
            text = view.read_text(path)
            if text is None or len(text) > 2_000_000:
                continue
            for n, line in enumerate(text.splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{path}:{n}: {line[:MAX_LINE]}")
                    if len(hits) >= MAX_MATCHES:
                        return "\n".join(hits) + "\n[more matches: narrow the search]", None
        return "\n".join(hits) or "(no matches)", None

    def _tool_edit_file(self, path: str, old: str, new: str) -> tuple[str, None]:
        norm = self._writable(path)
        current = FilesystemWorkspace(self.root).read_text(norm)
        if current is None:
            raise ToolFailure(f"{norm} does not exist; create it with write_file")
        try:
            applied = apply_search_replace(
                current, old, new, threshold=self.fuzzy_threshold, label=f"edit of {norm}"
            )
        except MatchProblem as exc:
            raise ToolFailure(str(exc)) from None
        self._write(norm, applied.content)
        return f"{norm}: edited ({applied.tier} match)", None

    def _tool_write_file(self, path: str, content: str) -> tuple[str, None]:
        norm = self._writable(path)
        self._write(norm, content)
        return f"{norm}: written ({len(content.splitlines())} lines)", None

    def _write(self, norm: str, content: str) -> None:
        snapshot.apply_changes(self.root, [WriteEdit(path=norm, content=content)])

    def _tool_run(self, command: str, timeout_seconds: int | None = None) -> tuple[str, str | None]:
        if not isinstance(command, str) or not command.strip():
            raise ToolFailure("command is empty")
        limit = min(float(timeout_seconds or self.command_timeout_s), self.command_timeout_s)
        before = snapshot.changed_files(self.root)
        result = self.runner.run(
            command, self.root, timeout_s=max(limit, 1.0), allow_network=False,
            cancel=self.cancel, env=self.env, on_line=self.on_line,
        )  # fmt: skip
        after = snapshot.changed_files(self.root)
        touched = [p for p in set(before) | set(after) if before.get(p, "") != after.get(p, "")]
        bad = [
            p for p in sorted(touched)
            if path_violation(p, self.constraints.allowed_paths, self.constraints.forbidden_paths)
        ]  # fmt: skip
        if bad:
            snapshot.revert(self.root, bad)
        output = _capped(result.output, self.output_chars)
        if result.timed_out:
            raise ToolFailure(f"the command timed out after {limit:.0f} s\n{output}", "timeout")
        status = f"exit code {result.exit_code}"
        if bad:
            raise ToolFailure(
                f"{status}; the command changed paths the rules forbid, which were restored: "
                + ", ".join(bad[:10]),
                "policy",
            )
        return f"{status}\n{output}", None

    def _tool_finish(self, summary: str) -> tuple[str, str]:
        if not snapshot.changed_files(self.root):
            raise ToolFailure("nothing was changed yet; make the change before finishing")
        note = _tasks.next_task_note(self.declared, self.step_index)
        return f"finished: {summary[:500]}{note}", "finish"

    def _tool_declare_tasks(self, tasks: object) -> tuple[str, str]:
        try:
            declared = _tasks.validated(tasks)
        except ValueError as exc:
            raise ToolFailure(str(exc)) from None
        limit = self.constraints.max_steps
        if limit and len(declared) > limit:
            raise ToolFailure(f"at most {limit} tasks (the request's max_steps)")
        listed = "; ".join(f"{n + 1}. {t}" for n, t in enumerate(declared))
        return f"declared {len(declared)} tasks: {listed}. Start with task 1.", "declare"


def _capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters elided ...]\n{text[-half:]}"

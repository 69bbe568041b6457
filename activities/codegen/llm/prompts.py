"""Prompts of the llm engine: plan as JSON, step edits as SEARCH/REPLACE, repair from a log.

Prompts are plain text built from the request, the analysis and the files the step touches;
everything here is deterministic so identical situations produce identical prompts.
"""

from __future__ import annotations

from activities.analysis.report import AnalysisReport
from activities.codegen.engine import FeatureRequest
from domain.values import PlanStep

MAX_LISTED_FILES = 300
MAX_LOG_CHARS = 8000

PLAN_SYSTEM = """\
You are a senior software engineer planning a change to a git repository.
Reply with ONE JSON object and nothing else, of this shape:
{"summary": "<one sentence>", "steps": [{"description": "<what to do>",
  "type": "<one of: create_file, modify_file, delete_file, rename_file,
           add_dependency, refactor, test, documentation>",
  "target_files": ["<repository-relative path>", ...],
  "dependencies": [<indices of earlier steps>]}]}
Keep steps small (one or a few files each) and ordered; step indices start at 0."""

EDIT_SYSTEM = """\
You are a senior software engineer editing files of a git repository.
Express every change as SEARCH/REPLACE blocks. Write the file path alone on a line, then a
fenced block:

path/to/file.py
```python
<<<<<<< SEARCH
exact lines currently in the file
=======
the new lines
>>>>>>> REPLACE
```

Rules: SEARCH must copy the current lines exactly and match once; use several small blocks
rather than one big one. For a NEW file, or a small file you rewrite entirely, give the path
and a fence with the complete content and no SEARCH/REPLACE markers. To delete a file write
a line `DELETE path/to/file`. Only touch files the task needs."""


def _constraints(request: FeatureRequest) -> str:
    c = request.constraints
    lines = []
    if c.max_steps:
        lines.append(f"- at most {c.max_steps} steps")
    if c.allowed_paths:
        lines.append(f"- only touch paths matching: {', '.join(c.allowed_paths)}")
    if c.forbidden_paths:
        lines.append(f"- never touch paths matching: {', '.join(c.forbidden_paths)}")
    return "Constraints:\n" + "\n".join(lines) + "\n\n" if lines else ""


def plan_prompt(request: FeatureRequest, analysis: AnalysisReport | None) -> str:
    parts = [f"Feature: {request.title}\n\n{request.description}\n\n", _constraints(request)]
    if analysis is not None:
        langs = ", ".join(f"{lang.name} {lang.share:.0%}" for lang in analysis.languages[:5])
        parts.append(f"Languages: {langs or 'unknown'}\n")
        parts.append(
            f"Build: {analysis.build_command or '-'}; tests: {analysis.test_command or '-'}\n"
        )
        parts.append("Files (path: top-level symbols):\n")
        for entry in analysis.files[:MAX_LISTED_FILES]:
            symbols = ", ".join(s.name for s in entry.symbols[:12])
            parts.append(f"- {entry.path}" + (f": {symbols}" if symbols else "") + "\n")
        if len(analysis.files) > MAX_LISTED_FILES:
            parts.append(f"... and {len(analysis.files) - MAX_LISTED_FILES} more files\n")
    parts.append("\nReply with the JSON plan only.")
    return "".join(parts)


def plan_feedback(error: str) -> str:
    return (
        f"That plan was not valid: {error}\n"
        "Reply again with the corrected JSON object only, no prose and no code fence."
    )


def file_section(path: str, content: str | None, limit: int, whole_file_ok: bool) -> str:
    if content is None:
        return f"{path} (does not exist yet; create it with a whole-file block)\n\n"
    note = " (small file: a whole-file block is fine)" if whole_file_ok else ""
    shown = content if len(content) <= limit else content[:limit] + "\n... (truncated)\n"
    return (
        f"{path}{note}\n```\n{shown}```\n\n"
        if shown.endswith("\n")
        else (f"{path}{note}\n```\n{shown}\n```\n\n")
    )


def step_prompt(request: FeatureRequest, step: PlanStep, files: str, listing: list[str]) -> str:
    listed = "\n".join(listing[:MAX_LISTED_FILES])
    return (
        f"Feature: {request.title}\n\n{request.description}\n\n{_constraints(request)}"
        f"Current step {step.index} ({step.type.value}): {step.description}\n"
        f"Target files: {', '.join(step.target_files) or '-'}\n\n"
        f"Current content of the target files:\n\n{files}"
        f"Other repository files:\n{listed}\n\n"
        "Reply with the edit blocks for this step."
    )


def repair_prompt(request: FeatureRequest, failure_log: str, files: str) -> str:
    tail = failure_log[-MAX_LOG_CHARS:]
    return (
        f"Feature: {request.title}\n\n{request.description}\n\n{_constraints(request)}"
        "The build or tests failed after the feature was implemented. Output (tail):\n"
        f"```\n{tail}\n```\n\nFiles mentioned in the output:\n\n{files}"
        "Reply with the edit blocks that fix the failure."
    )


def edit_feedback(problems: list[str]) -> str:
    listed = "\n".join(f"- {p}" for p in problems)
    return (
        "None of your edits were applied because of these problems:\n"
        f"{listed}\n\nSend the complete set of edit blocks again, corrected."
    )

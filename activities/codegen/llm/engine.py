"""The `llm` engine: plans and edits proposed by a chat model, checked before they are used.

Every model answer is validated (plan JSON against pydantic and the constraints, edit blocks
against the files) and, when invalid, fed back to the model a bounded number of times. The
budget is checked before each call; an answer identical to an earlier one is a loop.
"""

from __future__ import annotations

import json
import re
import threading

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from activities.analysis.report import AnalysisReport
from activities.codegen.budget import Budget, Usage
from activities.codegen.engine import (
    FeatureRequest,
    GenerationResult,
    PlanResult,
    ProgressCallback,
    validate_plan,
)
from activities.codegen.llm import prompts
from activities.codegen.llm.config import LLMConfig
from activities.codegen.llm.edit_format import (
    DeleteFile,
    SearchReplace,
    WholeFile,
    parse_edit_response,
)
from activities.codegen.llm.matching import MatchProblem, apply_search_replace
from activities.codegen.llm.providers import ChatModel, Message, OutputSchema, build_chat_model
from activities.codegen.workspace import EditedWorkspace, WorkspaceView, normalize_path
from domain.cancellation import raise_if_cancelled
from domain.edits import DeleteEdit, WriteEdit
from domain.enums import StepType
from domain.errors import DomainError, GenerationFailed, PlanningFailed, PolicyViolation
from domain.paths import path_violation
from domain.values import ExecutionPlan, PlanStep

MAX_REPAIR_FILES = 5


class _StepDraft(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str = Field(min_length=1)
    type: StepType
    target_files: list[str] = Field(default_factory=list)
    dependencies: list[int] = Field(default_factory=list)


class _PlanDraft(BaseModel):
    """What the model must answer to a plan prompt."""

    model_config = ConfigDict(extra="ignore")

    summary: str | None = None
    steps: list[_StepDraft] = Field(min_length=1)


# The plan as structured output; `_json_object` still digs the JSON out of a fenced answer
# from servers that ignore it (some local OpenAI-compatible ones do).
PLAN_OUTPUT = OutputSchema(
    name="submit_plan",
    description="Submit the implementation plan: a summary and the ordered steps.",
    schema=_PlanDraft.model_json_schema(),
)


def _json_object(text: str) -> str:
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.S)
    if fenced:
        return fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text


def _fingerprint(text: str) -> str:
    return " ".join(text.split())


class _Conversation:
    """One exchange with the model: budget checks, usage records and loop detection."""

    def __init__(
        self,
        engine: LLMEngine,
        system: str,
        first: str,
        budget: Budget,
        purpose: str,
        cancel: threading.Event | None,
        progress: ProgressCallback | None,
    ) -> None:
        self.engine = engine
        self.system = system
        self.messages = [Message("user", first)]
        self.budget = budget
        self.purpose = purpose
        self.cancel = cancel
        self.progress = progress
        self.usage: list[Usage] = []
        self.seen: set[str] = set()

    def ask(self, output: OutputSchema | None = None) -> str:
        raise_if_cancelled(self.cancel, self.purpose)
        config = self.engine.config
        chars = len(self.system) + sum(len(m.content) for m in self.messages)
        estimated_input = chars // 4 + 16
        max_tokens = self.budget.output_allowance(
            estimated_input,
            config.max_output_tokens,
            config.price_input_per_1k,
            config.price_output_per_1k,
        )
        if self.progress is not None:
            self.progress(f"{self.purpose}: model call {len(self.usage) + 1}")
        completion = self.engine.model.complete(
            self.system, self.messages, max_tokens, self.cancel, output
        )
        usage = Usage(
            provider=self.engine.model.provider,
            model=self.engine.model.model,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=config.cost_usd(completion.input_tokens, completion.output_tokens),
        )
        self.usage.append(usage)
        self.budget.record(usage)
        key = _fingerprint(completion.text)
        if key in self.seen:
            raise self.failed(
                GenerationFailed,
                f"model repeated the same response for {self.purpose} after "
                f"{len(self.usage)} calls; stopping to avoid a loop",
            )
        self.seen.add(key)
        return completion.text

    def feedback(self, answer: str, message: str) -> None:
        self.messages += [Message("assistant", answer), Message("user", message)]

    def failed(self, kind: type[DomainError], message: str) -> DomainError:
        """An error carrying the usage spent so far, so it is still recorded as events."""
        return kind(message, details={"usage": [u.model_dump() for u in self.usage]})


class LLMEngine:
    """Change engine backed by a chat model (OpenAI-compatible or Anthropic)."""

    kind = "llm"

    def __init__(self, config: LLMConfig, model: ChatModel | None = None) -> None:
        self.config = config
        self.model = model or build_chat_model(config)

    def budget(self, spent: list[Usage] | None = None) -> Budget:
        """A budget with this configuration's limits and the given earlier spend."""
        return Budget.from_usage(
            self.config.max_tokens_budget, self.config.max_cost_usd, spent or []
        )

    # planning ------------------------------------------------------------------------------

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
        """Ask for a JSON plan, re-asking with the validation error; raises PlanningFailed."""
        talk = _Conversation(
            self,
            prompts.PLAN_SYSTEM,
            prompts.plan_prompt(request, analysis),
            budget or self.budget(),
            "planning",
            cancel,
            progress,
        )
        last_error = ""
        for _ in range(self.config.max_feedback_rounds + 1):
            answer = talk.ask(PLAN_OUTPUT)
            try:
                plan = self._parse_plan(answer)
                validate_plan(plan, request.constraints)
                return PlanResult(plan=plan, usage=talk.usage)
            except (ValidationError, ValueError) as exc:
                last_error = self._describe_invalid(exc)
            except (PlanningFailed, PolicyViolation) as exc:
                last_error = exc.message
            talk.feedback(answer, prompts.plan_feedback(last_error))
        raise talk.failed(
            PlanningFailed,
            f"model did not produce a valid plan after {len(talk.usage)} attempts: {last_error}",
        )

    @staticmethod
    def _describe_invalid(exc: Exception) -> str:
        if isinstance(exc, ValidationError):
            return "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'plan'}: {e['msg']}"
                for e in exc.errors()[:8]
            )
        return str(exc)

    @staticmethod
    def _parse_plan(answer: str) -> ExecutionPlan:
        try:
            data = json.loads(_json_object(answer))
        except json.JSONDecodeError as exc:
            raise ValueError(f"the answer is not valid JSON ({exc})") from None
        draft = _PlanDraft.model_validate(data)
        steps = [
            PlanStep(
                index=i,
                description=s.description,
                type=s.type,
                target_files=[normalize_path(t) for t in s.target_files],
                dependencies=s.dependencies,
            )
            for i, s in enumerate(draft.steps)
        ]
        affected = sorted({t for s in steps for t in s.target_files})
        return ExecutionPlan(steps=steps, summary=draft.summary, affected_files=affected)

    # edits ---------------------------------------------------------------------------------

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
        """Edits for one plan step; raises GenerationFailed when the model cannot produce them."""
        sections = []
        for target in step.target_files:
            content = view.read_text(target)
            small = content is None or len(content) <= self.config.small_file_bytes
            sections.append(
                prompts.file_section(target, content, self.config.max_context_file_bytes, small)
            )
        others = [p for p in view.list_files() if p not in step.target_files]
        first = prompts.step_prompt(request, step, "".join(sections), others)
        talk = _Conversation(
            self, prompts.EDIT_SYSTEM, first, budget, f"step {step.index}", cancel, progress
        )
        return self._edit_rounds(talk, request, view)

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
        """Edits that should fix the build/test failure shown in `failure_log`."""
        tail = failure_log[-prompts.MAX_LOG_CHARS :]
        mentioned = [p for p in view.list_files() if p in tail][:MAX_REPAIR_FILES]
        sections = "".join(
            prompts.file_section(p, view.read_text(p), self.config.max_context_file_bytes, False)
            for p in mentioned
        )
        first = prompts.repair_prompt(request, failure_log, sections)
        talk = _Conversation(self, prompts.EDIT_SYSTEM, first, budget, "repair", cancel, progress)
        return self._edit_rounds(talk, request, view)

    def _edit_rounds(
        self, talk: _Conversation, request: FeatureRequest, view: WorkspaceView
    ) -> GenerationResult:
        problems: list[str] = []
        for _ in range(self.config.max_feedback_rounds + 1):
            answer = talk.ask()
            overlay, notes, problems = self._apply(answer, request, view)
            if not problems:
                edits = overlay.edits()
                if edits:
                    return GenerationResult(edits=edits, usage=talk.usage, notes=notes)
                problems = ["the edits change nothing; send blocks that implement the step"]
            talk.feedback(answer, prompts.edit_feedback(problems))
        raise talk.failed(
            GenerationFailed,
            f"model edits for {talk.purpose} still failed after {len(talk.usage)} attempts: "
            + "; ".join(problems),
        )

    def _apply(
        self, answer: str, request: FeatureRequest, view: WorkspaceView
    ) -> tuple[EditedWorkspace, list[str], list[str]]:
        """Apply every block of `answer` over `view`; (result, notes, problems)."""
        parsed = parse_edit_response(answer)
        problems = list(parsed.problems)
        notes: list[str] = []
        overlay = EditedWorkspace(view)
        if not parsed.blocks and not problems:
            problems.append("no edit blocks were found; use the SEARCH/REPLACE format")
        constraints = request.constraints
        for block in parsed.blocks:
            try:
                path = normalize_path(block.path)
            except PolicyViolation as exc:
                problems.append(exc.message)
                continue
            why = path_violation(path, constraints.allowed_paths, constraints.forbidden_paths)
            if why:
                problems.append(f"{why}; do not edit it")
                continue
            if isinstance(block, DeleteFile):
                if not overlay.exists(path):
                    problems.append(f"DELETE {path}: the file does not exist")
                else:
                    overlay.apply(DeleteEdit(path=path))
                    notes.append(f"{path}: deleted")
            elif isinstance(block, WholeFile):
                overlay.apply(WriteEdit(path=path, content=block.content))
                notes.append(f"{path}: whole file written")
            elif isinstance(block, SearchReplace):
                current = overlay.read_text(path)
                label = f"SEARCH/REPLACE block {block.number} for {path}"
                if current is None:
                    if block.search.strip():
                        problems.append(
                            f"{label}: the file does not exist; create it with a whole-file block"
                        )
                        continue
                    overlay.apply(WriteEdit(path=path, content=block.replace))
                    notes.append(f"{path}: created from an empty SEARCH block")
                    continue
                try:
                    applied = apply_search_replace(
                        current,
                        block.search,
                        block.replace,
                        threshold=self.config.fuzzy_threshold,
                        label=label,
                    )
                except MatchProblem as exc:
                    problems.append(str(exc))
                    continue
                overlay.apply(WriteEdit(path=path, content=applied.content))
                notes.append(
                    f"{path}: block {block.number} applied ({applied.tier} match, "
                    f"similarity {applied.similarity:.2f})"
                )
        return overlay, notes, problems

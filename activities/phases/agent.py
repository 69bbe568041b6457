"""The agent engine's turns: one activity call is one model call and its tool calls.

Durability: the model's response is stored (agent_turns) before any tool runs, and the tool
outcomes with the files the turn changed before the next model call. A retried turn finds
its response and runs the tools again on the worktree as the previous turn left it (base
commit plus every earlier turn's stored changes); a completed turn is returned as stored.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity

from activities.codegen.agent import context, loop, snapshot, tasks
from activities.codegen.agent.models import ToolModel, ToolSpec, build_tool_model
from activities.codegen.agent.protocol import Exchange, ModelTurn, ToolOutcome
from activities.codegen.agent.tools import TOOLS, ToolBox
from activities.codegen.budget import Usage
from activities.codegen.llm.config import LLMConfig
from activities.phases.analysis import stored_configuration
from activities.phases.context import ExecutionContext, Phase, PhaseDeps, event_id
from activities.phases.steps import commit_message
from activities.phases.usage import record_usage, remaining_budget
from activities.phases.worktree import Use, WorktreeCache
from activities.runtime import Progress, maps_domain_errors, run_blocking
from domain.cancellation import OperationCancelled
from domain.contracts import AgentTurnRequest, AgentTurnResult
from domain.edits import FileEdit, file_edits_adapter
from domain.enums import ArtifactType, StepState
from domain.errors import DomainError, GenerationFailed, InvalidTransition
from domain.events import EventType
from domain.paths import path_violation
from domain.redaction import redact_value
from domain.values import StepError
from persistence.tables import AgentTurnRow, ExecutionStepRow
from workflows.activities import AgentActivities

TRANSCRIPT_ARTIFACT = "agent-transcript.json"
PARTIAL_ARTIFACT = "agent-partial.patch"

ModelFactory = Callable[[LLMConfig], ToolModel]


@dataclass(frozen=True)
class Where:
    """A turn's place in the conversation: declaring (step -1, `strict` when approval is
    required) or working on declared task `step_index`."""

    step_index: int
    strict: bool
    declared: list[str]

    @property
    def tools(self) -> list[ToolSpec]:
        return tasks.offered(TOOLS, self.step_index, self.strict)


def exchange_of(row: AgentTurnRow) -> Exchange:
    return Exchange(
        turn=ModelTurn.model_validate(row.response),
        outcomes=[ToolOutcome.model_validate(o) for o in row.outcomes or []],
    )


class AgentTurns(Phase, AgentActivities):
    def __init__(
        self,
        deps: PhaseDeps,
        worktrees: WorktreeCache,
        model_factory: ModelFactory = build_tool_model,
    ) -> None:
        super().__init__(deps)
        self.worktrees = worktrees
        self.limits = deps.agent
        self.model_factory = model_factory

    @activity.defn
    @maps_domain_errors
    async def agent_turn(self, inp: AgentTurnRequest) -> AgentTurnResult:
        """Step -1: a declaring turn (tasks.py); step k >= 0: a turn of declared task k.
        The model sees the whole conversation, declaring turns and earlier tasks included."""
        ctx = await self.context(inp.ref)
        declaring = inp.step_index == tasks.DECLARING
        step = None if declaring else ctx.step(inp.step_index)
        strict = ctx.constraints.require_plan_approval
        n = inp.turn_index
        if step is not None and step.generated_edits is not None:
            return AgentTurnResult(turn_index=n, finished=True, reused=True)
        async with self.unit() as uow:
            every = list(await uow.agent_turns.of_execution(ctx.tenant, ctx.id))
        rows = [r for r in every if r.step_index == inp.step_index]
        done = [r for r in rows if r.outcomes is not None]
        if n < len(done):
            stored = exchange_of(done[n])
            ends = (
                tasks.ends_declaring(stored, strict)
                if declaring
                else bool(loop.finished(stored) is not None)
            )
            return AgentTurnResult(
                turn_index=n, finished=ends, reused=True, tool_calls=len(stored.turn.tool_calls)
            )
        if n > len(done) or len(rows) > len(done) + 1:
            raise InvalidTransition(f"agent turn {n} asked for, but {len(done)} turns are stored")
        config = self.deps.llm
        if config is None:
            raise GenerationFailed("the agent engine needs a model; none is configured")
        before = [r for r in every if r.step_index < inp.step_index]
        history = [exchange_of(r) for r in before + done]
        declared = tasks.declared(history) or []
        path = await self.worktrees.prepare(ctx, Use.EDIT, upto_step=inp.step_index)
        self.worktrees.forget(ctx)  # the turn's tools leave it dirty
        # the worktree as the previous turn left it: the last committed step plus this
        # task's turns (and, for the first task, what the declaring turns changed)
        since = inp.step_index if inp.step_index > 0 else tasks.DECLARING
        earlier = [stored_changes(r) for r in before + done if r.step_index >= since]

        def restore(cancel: threading.Event, progress: Progress) -> None:
            for edits in earlier:
                snapshot.apply_changes(path, edits)

        await run_blocking(restore, what="restoring the agent's worktree")
        where = Where(inp.step_index, strict, declared)
        try:
            if len(rows) == n + 1:  # the response is stored: never ask the model again
                turn, model_s = ModelTurn.model_validate(rows[n].response), rows[n].model_seconds
            else:
                if n == 0 and step is not None:
                    await self._start_step(ctx, step)
                elapsed = loop.conversation_seconds(
                    [(r.step_index, r.created_at) for r in every], inp.step_index,
                    datetime.now(UTC),
                )  # fmt: skip
                loop.check_before_call(len(history), elapsed, self.limits)
                turn, model_s = await self._ask(ctx, config, inp, history, where)
            exchange, changes, tools_s = await self._run_tools(ctx, path, turn, where)
            history.append(exchange)
            summary = loop.finished(exchange)
            ends = tasks.ends_declaring(exchange, strict) if declaring else summary is not None
            if not ends:
                loop.check_after_turn(history, self.limits)
        except DomainError as err:
            # a transient failure (the endpoint, a 429) is retried by Temporal; a cancel is
            # the workflow's to end; anything else stops the conversation here
            if not err.retryable and not isinstance(err, OperationCancelled):
                await self._stop(ctx, step, path, history, err)
            raise
        await self._store_turn(ctx, step, inp, exchange, changes, path, ends)
        async with self.unit() as uow:
            self.emit(
                uow, ctx.id, EventType.AGENT_TURN,
                loop.turn_event(len(history) - 1, exchange, model_s or 0.0, tools_s)
                | {"step_index": inp.step_index},
                event_id=event_id(ctx.id, "agent.turn", inp.step_index, n),
            )  # fmt: skip
            await uow.commit()
        return AgentTurnResult(turn_index=n, finished=ends, tool_calls=len(turn.tool_calls))

    # ---- the model call ----------------------------------------------------------------

    async def _ask(
        self, ctx: ExecutionContext, config: LLMConfig, inp: AgentTurnRequest,
        history: list[Exchange], where: Where,
    ) -> tuple[ModelTurn, float]:  # fmt: skip
        """One model call, its response stored (with its usage) before anything else."""
        budget = await remaining_budget(self, ctx)
        task = loop.task_prompt(ctx.request())
        visible, estimate, wanted = fitted(self.limits, config, task, history, where.tools)
        max_tokens = budget.output_allowance(
            estimate + 200, wanted, config.price_input_per_1k, config.price_output_per_1k
        )
        model = self.model_factory(config)
        started = time.monotonic()
        turn = await run_blocking(
            lambda cancel, progress: model.respond(
                loop.SYSTEM, task, visible, where.tools, max_tokens, cancel
            ),
            what=f"agent turn {inp.turn_index}: model call",
        )
        model_s = time.monotonic() - started
        usage = Usage(
            provider=model.provider, model=model.model, input_tokens=turn.input_tokens,
            output_tokens=turn.output_tokens,
            cost_usd=config.cost_usd(turn.input_tokens, turn.output_tokens),
        )  # fmt: skip
        async with self.unit() as uow:
            await uow.agent_turns.store_response(
                ctx.tenant, ctx.id, inp.step_index, inp.turn_index,
                turn.model_dump(mode="json"), model_s,
            )  # fmt: skip
            record_usage(self, uow, ctx, f"agent-{inp.step_index}-{inp.turn_index}", [usage])
            await uow.commit()
        return turn, model_s

    # ---- the tools ---------------------------------------------------------------------

    async def _run_tools(
        self, ctx: ExecutionContext, path: Path, turn: ModelTurn, where: Where
    ) -> tuple[Exchange, list[FileEdit], float]:
        """Run the turn's tools; what they change is the turn's stored changes."""
        configuration = stored_configuration(ctx)
        env = dict(configuration.env) if configuration else {}
        limits = self.limits

        def run(cancel: threading.Event, progress: Progress) -> tuple[Exchange, list[FileEdit]]:
            box = ToolBox(
                root=path, constraints=ctx.constraints, runner=self.deps.sandbox, env=env,
                command_timeout_s=limits.command_timeout_s, output_chars=limits.output_chars,
                cancel=cancel, step_index=where.step_index, strict=where.strict,
                declared=where.declared,
            )  # fmt: skip
            before = snapshot.changed_files(path)
            outcomes: list[ToolOutcome] = []
            # finish last: the other calls of its turn still run
            calls = sorted(turn.tool_calls, key=lambda c: c.name == "finish")
            for call in calls:
                progress(f"agent tool {call.name}")
                outcomes.append(box.run(call))
            changes = snapshot.delta(path, before, snapshot.changed_files(path))
            return Exchange(turn=turn, outcomes=outcomes), changes

        started = time.monotonic()
        exchange, changes = await run_blocking(run, what="agent tools")
        return exchange, changes, time.monotonic() - started

    # ---- storing -----------------------------------------------------------------------

    async def _store_turn(
        self, ctx: ExecutionContext, step: ExecutionStepRow | None, inp: AgentTurnRequest,
        exchange: Exchange, changes: list[FileEdit], path: Path, ends: bool,
    ) -> None:  # fmt: skip
        """The turn's outcomes and changes; when it finished, the step's edits too (one
        transaction, so a finished turn always has its edits)."""
        finished = ends and step is not None
        final: list[FileEdit] = []
        if finished:
            rules = ctx.constraints
            final = [
                e for e in await run_blocking(
                    lambda cancel, progress: snapshot.final_edits(path), what="agent patch"
                )
                if not path_violation(e.path, rules.allowed_paths, rules.forbidden_paths)
            ]  # fmt: skip
        async with self.unit() as uow:
            await uow.agent_turns.store_outcomes(
                ctx.tenant, ctx.id, inp.step_index, inp.turn_index,
                [o.model_dump(mode="json") for o in exchange.outcomes],
                [e.model_dump(mode="json") for e in changes],
            )  # fmt: skip
            if finished and step is not None:
                await uow.steps.record_edits(
                    ctx.tenant, step.id, final, commit_message=commit_message(ctx, step),
                    commit_timestamp=inp.commit_timestamp,
                )  # fmt: skip
            await uow.commit()
        if finished:
            await self._transcript(ctx)

    async def _transcript(self, ctx: ExecutionContext) -> None:
        async with self.unit() as uow:
            rows = await uow.agent_turns.of_execution(ctx.tenant, ctx.id)
            turns = [
                {
                    "step": r.step_index,
                    "turn": r.turn_index,
                    **exchange_of(r).model_dump(mode="json"),
                }
                for r in rows
            ]
            data = json.dumps(redact_value({"turns": turns}), indent=1).encode()
            await self.put_artifact(
                uow, ctx, TRANSCRIPT_ARTIFACT, ArtifactType.TRANSCRIPT, "application/json", data
            )
            await uow.commit()

    async def _stop(
        self, ctx: ExecutionContext, step: ExecutionStepRow | None, path: Path,
        history: list[Exchange], err: DomainError,
    ) -> None:  # fmt: skip
        """A stop: the partial patch and the transcript kept, the step failed, nothing
        pushed (the workflow ends on the error)."""
        patch = await run_blocking(
            lambda cancel, progress: snapshot.partial_patch(path), what="agent partial patch"
        )
        async with self.unit() as uow:
            if patch:
                await self.put_artifact(
                    uow, ctx, PARTIAL_ARTIFACT, ArtifactType.PATCH, "text/x-diff",
                    patch.encode(), metadata={"partial": True, "turns": len(history)},
                )  # fmt: skip
            error = StepError(
                code=err.code.value, message=err.message, phase="agent",
                details=err.details or None, retryable=err.retryable,
            )  # fmt: skip
            index = tasks.DECLARING if step is None else step.step_index
            if step is not None:
                await uow.steps.update_state(ctx.tenant, step.id, StepState.FAILED, error=error)
            self.emit(
                uow, ctx.id, EventType.STEP_FAILED,
                {"step_index": index, "error": error.model_dump(mode="json")},
                event_id=event_id(ctx.id, "step.failed", index, "agent"),
            )  # fmt: skip
            await uow.commit()
        await self._transcript(ctx)

    async def _start_step(self, ctx: ExecutionContext, step: ExecutionStepRow) -> None:
        async with self.unit() as uow:
            await uow.steps.update_state(ctx.tenant, step.id, StepState.RUNNING)
            self.emit(
                uow, ctx.id, EventType.STEP_STARTED,
                {"step_index": step.step_index, "description": step.description},
                event_id=event_id(ctx.id, "step.started", step.step_index),
            )  # fmt: skip
            await uow.commit()


def fitted(
    limits: loop.AgentLimits, config: LLMConfig, task: str, history: list[Exchange],
    tools: list[ToolSpec] = TOOLS,
) -> tuple[list[Exchange], int, int]:  # fmt: skip
    """The turns the model sees (old output trimmed, the whole fitted to the context
    window), the request's estimated input tokens and the output tokens to ask for."""
    fixed = context.fixed_chars(loop.SYSTEM, task, tools)
    wanted = config.max_output_tokens

    def seen(turns: list[Exchange], budget: int | None) -> tuple[list[Exchange], int]:
        visible = loop.visible_history(turns, limits)
        if budget is not None:
            visible = context.fit_to_window(visible, fixed, budget, limits.trimmed_chars, turns)
        chars = fixed + sum(context.exchange_chars(e) for e in visible)
        return visible, context.estimate_tokens(chars)

    budget = None
    ratio = 1.0
    if limits.context_tokens is not None:
        budget = context.input_budget(limits.context_tokens, config.max_output_tokens)
        if history and history[-1].turn.input_tokens:  # the provider counted the last request
            ratio = context.tokens_per_estimate(
                history[-1].turn.input_tokens, seen(history[:-1], budget)[1]
            )
            budget = int(budget / ratio)
    visible, estimate = seen(history, budget)
    estimate = int(estimate * ratio)
    if limits.context_tokens is not None:
        wanted = max(min(wanted, limits.context_tokens - estimate), 256)
    return visible, estimate, wanted


def stored_changes(row: AgentTurnRow) -> list[FileEdit]:
    return file_edits_adapter.validate_python(row.changes or [])


__all__ = ["AgentTurns", "exchange_of", "stored_changes"]

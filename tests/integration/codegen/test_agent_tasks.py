"""The agent's declared task list on a real git worktree: what the declaring turns may do
(only explore when approval is required), what a declaration is, and what `finish` of a
task tells the model."""

from __future__ import annotations

from pathlib import Path

from activities.codegen.agent import tasks
from activities.codegen.agent.protocol import Exchange, ModelTurn, ToolCall
from activities.codegen.agent.tools import TOOLS
from tests.integration.codegen.test_agent_tools import box, call, repo  # noqa: F401


def test_declaring_turns_with_approval_only_explore_and_declare(
    repo: Path,  # noqa: F811
) -> None:
    tools = box(repo, step_index=tasks.DECLARING, strict=True)
    for refused in [
        tools.run(call("write_file", path="app/new.py", content="x = 1\n")),
        tools.run(call("edit_file", path="app/main.py", old="1", new="2")),
        tools.run(call("run", command="touch app/made.txt")),
        tools.run(call("finish", summary="done")),
    ]:
        assert refused.is_error and refused.kind == "invalid", refused
        assert "declare" in refused.content or "finish ends a task" in refused.content
    assert not (repo / "app" / "new.py").exists() and not (repo / "app" / "made.txt").exists()
    assert (repo / "app" / "main.py").read_text() == "def main():\n    return 1\n"
    assert not tools.run(call("read_file", path="app/main.py")).is_error
    declared = tools.run(call("declare_tasks", tasks=["Make main return 2", "Document it"]))
    assert declared.kind == "declare" and not declared.is_error
    assert "1. Make main return 2; 2. Document it" in declared.content
    names = [t.name for t in tasks.offered(TOOLS, tasks.DECLARING, strict=True)]
    assert names == ["read_file", "list_files", "search", "declare_tasks"]


def test_without_approval_declaring_is_optional_and_ends_at_the_first_change(
    repo: Path,  # noqa: F811
) -> None:
    tools = box(repo, step_index=tasks.DECLARING, strict=False)
    assert not tools.run(call("write_file", path="app/new.py", content="x = 1\n")).is_error
    explore = Exchange(turn=ModelTurn(tool_calls=[ToolCall(id="a", name="search", arguments={})]))
    edit = Exchange(turn=ModelTurn(tool_calls=[ToolCall(id="b", name="write_file")]))
    assert not tasks.ends_declaring(explore, strict=False)
    assert tasks.ends_declaring(edit, strict=False)
    assert not tasks.ends_declaring(edit, strict=True)
    assert tasks.declared([explore, edit]) is None  # the plan stays one step
    assert len(tasks.offered(TOOLS, tasks.DECLARING, strict=False)) == len(TOOLS) + 1


def test_a_declaration_is_validated_and_the_last_accepted_one_counts(
    repo: Path,  # noqa: F811
) -> None:
    tools = box(repo, step_index=tasks.DECLARING, strict=True)
    for bad in ([], ["ok", ""], "one task", [1], ["t"] * 21):
        outcome = tools.run(call("declare_tasks", tasks=bad))
        assert outcome.is_error and outcome.kind == "invalid", bad
    capped = box(repo, step_index=tasks.DECLARING, strict=True)
    capped.constraints = capped.constraints.model_copy(update={"max_steps": 1})
    over = capped.run(call("declare_tasks", tasks=["a", "b"]))
    assert over.is_error and "max_steps" in over.content
    first = ToolCall(id="a", name="declare_tasks", arguments={"tasks": ["one"]})
    second = ToolCall(id="b", name="declare_tasks", arguments={"tasks": ["two", "three"]})
    history = [
        Exchange(turn=ModelTurn(tool_calls=[c]), outcomes=[tools.run(c)]) for c in (first, second)
    ]
    assert tasks.declared(history) == ["two", "three"]
    plan = tasks.plan_of(["two", "three"])
    assert [(s.index, s.description) for s in plan.steps] == [(0, "two"), (1, "three")]


def test_finish_delivers_a_task_and_names_the_next_and_declaring_again_is_refused(
    repo: Path,  # noqa: F811
) -> None:
    (repo / "app" / "main.py").write_text("def main():\n    return 2\n")
    plan = ["Make main return 2", "Document it"]
    first = box(repo, step_index=0, declared=plan).run(call("finish", summary="returns 2"))
    assert first.kind == "finish" and "Next, task 2: Document it" in first.content
    last = box(repo, step_index=1, declared=plan).run(call("finish", summary="documented"))
    assert last.kind == "finish" and "Next" not in last.content
    again = box(repo, step_index=0, declared=plan).run(call("declare_tasks", tasks=["x"]))
    assert again.is_error and "already declared" in again.content
    assert [t.name for t in tasks.offered(TOOLS, 0, strict=True)] == [t.name for t in TOOLS]

"""Budget arithmetic, plan validation and workspace path safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.codegen import (
    Budget,
    EditedWorkspace,
    FilesystemWorkspace,
    Usage,
    validate_plan,
)
from domain.edits import DeleteEdit, RenameEdit, WriteEdit
from domain.enums import StepType
from domain.errors import BudgetExceeded, PlanningFailed, PolicyViolation
from domain.values import ExecutionPlan, FeatureConstraints, PlanStep


def usage(inp: int, out: int, cost: float = 0.0) -> Usage:
    return Usage(provider="openai", model="m", input_tokens=inp, output_tokens=out, cost_usd=cost)


def test_budget_caps_the_output_of_the_next_call_to_what_is_left() -> None:
    budget = Budget.from_usage(1000, None, [usage(300, 100)])
    assert budget.output_allowance(200, 4096) == 400


def test_budget_refuses_a_call_that_cannot_fit_with_the_numbers() -> None:
    budget = Budget(max_tokens=1000, spent_tokens=900)
    with pytest.raises(
        BudgetExceeded,
        match=r"spent 900 of 1000 tokens; the next call needs about 114 \(50 input \+ at least 64",
    ):
        budget.output_allowance(50, 4096)


def test_unlimited_budget_allows_the_wanted_output() -> None:
    assert Budget().output_allowance(10_000, 4096) == 4096


def test_money_budget_limits_output_by_price() -> None:
    budget = Budget(max_cost_usd=0.01, spent_cost_usd=0.005)
    # 1000 input tokens at $0.001/1k = $0.001; $0.004 left buys 2000 output tokens at $0.002/1k
    assert budget.output_allowance(1000, 4096, 0.001, 0.002) == 2000
    budget.record(usage(0, 0, cost=0.005))
    with pytest.raises(BudgetExceeded, match=r"cost budget exceeded: spent \$0.0100 of \$0.0100"):
        budget.output_allowance(1000, 4096, 0.001, 0.002)


def plan_of(*steps: PlanStep) -> ExecutionPlan:
    return ExecutionPlan(steps=list(steps))


def s(index: int, *targets: str, deps: list[int] | None = None) -> PlanStep:
    return PlanStep(
        index=index,
        description="d",
        type=StepType.MODIFY_FILE,
        target_files=list(targets),
        dependencies=deps or [],
    )


def test_plan_with_zero_max_steps_has_no_step_limit() -> None:
    validate_plan(plan_of(*(s(i) for i in range(60))), FeatureConstraints(max_steps=0))


def test_plan_rules_name_the_offending_step() -> None:
    with pytest.raises(PlanningFailed, match="plan has no steps"):
        validate_plan(plan_of(), FeatureConstraints())
    with pytest.raises(PlanningFailed, match=r"step 1 \(modify_file\) depends on step 1"):
        validate_plan(plan_of(s(0), s(1, deps=[1])), FeatureConstraints())
    with pytest.raises(PlanningFailed, match="has index 5 but is at position 1"):
        validate_plan(plan_of(s(0), s(5)), FeatureConstraints())
    with pytest.raises(PolicyViolation, match=r"step 0 \(modify_file\): path '/etc/x' is absolute"):
        validate_plan(plan_of(s(0, "/etc/x")), FeatureConstraints())


def test_filesystem_workspace_hides_git_and_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("a")
    (tmp_path / "img.bin").write_bytes(b"\xff\xfe\x00")
    view = FilesystemWorkspace(tmp_path)
    assert view.list_files() == ["img.bin", "src/a.py"]
    assert view.list_files("src/**") == ["src/a.py"]
    assert view.read_text("img.bin") is None and view.read_text("nope") is None
    with pytest.raises(PolicyViolation, match="escapes the repository"):
        view.read_text("../outside")
    with pytest.raises(PolicyViolation, match=r"inside \.git"):
        view.exists(".git/config")


def test_edited_workspace_shows_edits_without_touching_disk(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a")
    (tmp_path / "b.py").write_text("b")
    view = EditedWorkspace(
        FilesystemWorkspace(tmp_path),
        [
            WriteEdit(path="c.py", content="c"),
            DeleteEdit(path="a.py"),
            RenameEdit(path="b.py", new_path="d/b.py"),
        ],
    )
    assert view.list_files() == ["c.py", "d/b.py"]
    assert view.read_text("d/b.py") == "b" and not view.exists("a.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py"]

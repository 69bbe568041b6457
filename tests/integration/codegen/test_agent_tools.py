"""The agent's tools on a real git worktree, commands in the real sandbox: path rules and
`.git` on every call, bounded outputs, and what a turn changed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from activities.codegen.agent import snapshot
from activities.codegen.agent.loop import (
    AgentLimits,
    check_after_turn,
    error_signature,
    visible_history,
)
from activities.codegen.agent.models import anthropic_messages, openai_messages
from activities.codegen.agent.protocol import Exchange, ModelTurn, ToolCall, ToolOutcome
from activities.codegen.agent.tools import ToolBox
from activities.sandbox import SandboxRunner
from domain.edits import DeleteEdit, WriteEdit
from domain.errors import GenerationFailed
from domain.values import FeatureConstraints


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "app").mkdir()
    (root / "app" / "main.py").write_text("def main():\n    return 1\n")
    (root / "app" / "twice.py").write_text("x = 1\nx = 1\n")
    (root / "locked").mkdir()
    (root / "locked" / "keep.txt").write_text("keep\n")
    (root / ".gitignore").write_text("build/\n")
    (root / "many.txt").write_text("".join(f"needle {n}\n" for n in range(150)))
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    env = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *env, "-C", str(root), "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", str(root), "commit", "-qm", "base"], check=True)
    (root / "build").mkdir()
    (root / "build" / "out.txt").write_text("ignored\n")
    return root


def box(repo: Path, **kw: object) -> ToolBox:
    rules = FeatureConstraints(forbidden_paths=["locked/**"])
    return ToolBox(root=repo, constraints=rules, runner=SandboxRunner(), **kw)  # type: ignore[arg-type]


def call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id="c1", name=name, arguments=arguments)


def test_git_metadata_and_escapes_are_refused_on_reads_and_writes(repo: Path) -> None:
    (repo / "app" / "link.txt").symlink_to("/etc/passwd")
    tools = box(repo)
    for outcome in [
        tools.run(call("read_file", path=".git/config")),
        tools.run(call("read_file", path="../outside.txt")),
        tools.run(call("write_file", path=".git/hooks/pre-commit", content="x")),
        tools.run(call("edit_file", path="/etc/hosts", old="a", new="b")),
    ]:
        assert outcome.is_error and outcome.kind == "policy", outcome
    linked = tools.run(call("read_file", path="app/link.txt"))
    assert linked.is_error and "root:" not in linked.content
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()


def test_forbidden_paths_are_refused_with_the_rule_named(repo: Path) -> None:
    outcome = box(repo).run(call("write_file", path="locked/new.txt", content="x"))
    assert outcome.is_error and outcome.kind == "policy"
    assert "matches forbidden pattern 'locked/**'" in outcome.content
    assert not (repo / "locked" / "new.txt").exists()
    # reading a forbidden path is allowed: only changes are refused
    assert "keep" in box(repo).run(call("read_file", path="locked/keep.txt")).content


def test_reads_lists_and_searches_are_bounded_and_skip_ignored_files(repo: Path) -> None:
    tools = box(repo)
    lines = tools.run(call("read_file", path="app/main.py", start_line=2, end_line=2)).content
    assert lines == "app/main.py (2 lines)\n2\t    return 1"
    listed = tools.run(call("list_files")).content.splitlines()
    assert "app/main.py" in listed and "build/out.txt" not in listed
    found = tools.run(call("search", pattern=r"needle \d+")).content.splitlines()
    assert len(found) == 101 and found[-1] == "[more matches: narrow the search]"
    bad = tools.run(call("search", pattern="("))
    assert bad.is_error and "invalid regular expression" in bad.content


def test_edits_replace_exactly_once_and_refuse_ambiguity(repo: Path) -> None:
    tools = box(repo)
    ok = tools.run(call("edit_file", path="app/main.py", old="return 1", new="return 2"))
    assert not ok.is_error and (repo / "app" / "main.py").read_text().endswith("return 2\n")
    twice = tools.run(call("edit_file", path="app/twice.py", old="x = 1\n", new="x = 2\n"))
    assert twice.is_error and "2" in twice.content
    missing = tools.run(call("edit_file", path="app/none.py", old="a", new="b"))
    assert missing.is_error and "write_file" in missing.content
    unknown = tools.run(ToolCall(id="c", name="rm_rf"))
    assert unknown.is_error and unknown.kind == "invalid"
    garbled = tools.run(ToolCall(id="c", name="read_file", invalid_arguments="{nope"))
    assert garbled.is_error and "not a JSON object" in garbled.content


def test_commands_run_in_the_sandbox_capped_and_their_forbidden_writes_undone(
    repo: Path,
) -> None:
    tools = box(repo, output_chars=200, command_timeout_s=2)
    out = tools.run(call("run", command="seq 1 5000; exit 3"))
    assert out.content.startswith("exit code 3") and "characters elided" in out.content
    assert len(out.content) < 400
    undone = tools.run(call("run", command="echo changed > locked/keep.txt; echo x > locked/n"))
    assert undone.is_error and undone.kind == "policy"
    assert (repo / "locked" / "keep.txt").read_text() == "keep\n"
    assert not (repo / "locked" / "n").exists()
    slow = tools.run(call("run", command="sleep 30"))
    assert slow.is_error and slow.kind == "timeout" and slow.duration_s < 15
    dial = "import socket; socket.create_connection(('1.1.1.1', 53), 2)"
    net = tools.run(call("run", command=f'python3 -c "{dial}"'))
    assert not net.content.startswith("exit code 0")


def test_a_turns_changes_are_the_delta_and_restore_the_worktree(repo: Path) -> None:
    before = snapshot.changed_files(repo)
    tools = box(repo)
    tools.run(call("write_file", path="app/new.py", content="NEW = 1\n"))
    tools.run(call("run", command="rm app/twice.py; ln -s /etc/passwd app/leak"))
    changes = snapshot.delta(repo, before, snapshot.changed_files(repo))
    assert changes == [
        WriteEdit(path="app/new.py", content="NEW = 1\n"),
        DeleteEdit(path="app/twice.py"),
    ]
    assert box(repo).run(call("finish", summary="done")).kind == "finish"
    subprocess.run(["git", "-C", str(repo), "checkout", "-q", "--", "."], check=True)
    (repo / "app" / "new.py").unlink()
    assert box(repo).run(call("finish", summary="done")).is_error  # nothing changed
    snapshot.apply_changes(repo, changes)
    assert snapshot.final_edits(repo) == changes


def _ex(name: str, arg: str, out: str) -> Exchange:
    return Exchange(
        turn=ModelTurn(tool_calls=[ToolCall(id="c", name=name, arguments={"path": arg})]),
        outcomes=[ToolOutcome(call_id="c", name=name, content=out)],
    )


def test_alternating_actions_are_a_stuck_loop_and_old_output_is_trimmed() -> None:
    a, b = _ex("read_file", "a", "A" * 1000), _ex("read_file", "b", "B")
    check_after_turn([a, b, a], AgentLimits())
    with pytest.raises(GenerationFailed, match="alternating"):
        check_after_turn([a, b, a, b], AgentLimits())
    seen = visible_history([a, b, a], AgentLimits(keep_full_turns=1, trimmed_chars=10))
    assert seen[0].outcomes[0].content == "A" * 10 + " [trimmed]"
    assert seen[2].outcomes[0].content == "A" * 1000


def _run(out: str, **kw: object) -> Exchange:
    return Exchange(
        turn=ModelTurn(tool_calls=[ToolCall(id="r", name="run", arguments={"command": "t"})]),
        outcomes=[ToolOutcome(call_id="r", name="run", content=out, **kw)],  # type: ignore[arg-type]
    )


def test_the_same_error_repeated_stops_but_timings_successes_and_policy_do_not_count() -> None:
    fail = [_run(f"exit code 1\nE  assert 1 == 3\n1 failed in 0.{n}3s") for n in range(3)]
    ok = _run("exit code 0\n1 passed in 0.01s")
    other = _run("exit code 1\nE  assert 2 == 3\n1 failed in 0.01s")
    limits = AgentLimits(max_repeated_errors=3)
    assert error_signature(ok.outcomes[0]) is None
    assert error_signature(fail[0].outcomes[0]) == error_signature(fail[2].outcomes[0])
    assert error_signature(fail[0].outcomes[0]) != error_signature(other.outcomes[0])
    check_after_turn([fail[0], ok, fail[1], other, ok, other], limits)  # two of each
    with pytest.raises(GenerationFailed) as stop:
        check_after_turn([fail[0], ok, fail[1], other, fail[2]], limits)
    assert "run failed the same way 3 times; last: exit code 1 ... 1 failed in 0.23s" in str(
        stop.value
    )
    policy = _run("error: forbidden", is_error=True, kind="policy")
    assert error_signature(policy.outcomes[0]) is None  # its own stop counts it


def test_both_protocols_pair_every_tool_result_with_its_call() -> None:
    history = [_ex("read_file", "a", "A"), Exchange(turn=ModelTurn(text="thinking"))]
    oa = openai_messages("sys", "task", history)
    assert [m["role"] for m in oa] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert oa[2]["tool_calls"][0]["id"] == oa[3]["tool_call_id"] == "c"
    an = anthropic_messages("task", history)
    assert [m["role"] for m in an] == ["user", "assistant", "user", "assistant", "user"]
    assert an[1]["content"][0] == {
        "type": "tool_use", "id": "c", "name": "read_file", "input": {"path": "a"}
    }  # fmt: skip
    assert an[2]["content"][0]["tool_use_id"] == "c"

"""The llm engine end to end against a scripted model server over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from activities.analysis import analyze_repository
from activities.codegen import (
    Budget,
    FeatureRequest,
    FilesystemWorkspace,
    build_engine,
    require_engine_available,
)
from activities.codegen.llm import LLMConfig, LLMEngine, ModelCallFailed
from domain.cancellation import OperationCancelled
from domain.changes import declared_changes_adapter
from domain.edits import DeleteEdit, WriteEdit
from domain.enums import StepType
from domain.errors import BudgetExceeded, GenerationFailed, PlanningFailed, ValidationFailed
from domain.values import FeatureConstraints, PlanStep
from tests.integration.codegen.model_server import Reply, ScriptedModelServer
from tests.unit.codegen.edits_on_disk import write_tree

API_KEY = "sk-test-planted-secret-4242"


@pytest.fixture(params=["openai", "anthropic"])
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


def config_for(server: ScriptedModelServer, provider: str, **kw: object) -> LLMConfig:
    base = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    return LLMConfig(
        provider=provider,  # type: ignore[arg-type]
        model="scripted-1",
        base_url=base,
        api_key=SecretStr(API_KEY),
        price_input_per_1k=0.5,
        price_output_per_1k=1.5,
        timeout_seconds=10,
        **kw,  # type: ignore[arg-type]
    )


def feature(**constraints: object) -> FeatureRequest:
    return FeatureRequest(
        title="Add greeting",
        description="Add a greet() function and use it from main",
        constraints=FeatureConstraints(**constraints),  # type: ignore[arg-type]
    )


def fence(path: str, *blocks: tuple[str, str]) -> str:
    body = "".join(f"<<<<<<< SEARCH\n{s}=======\n{r}>>>>>>> REPLACE\n" for s, r in blocks)
    return f"{path}\n```python\n{body}```\n"


def step(*targets: str, index: int = 0) -> PlanStep:
    return PlanStep(
        index=index, description="Implement greeting", type=StepType.MODIFY_FILE,
        target_files=list(targets),
    )  # fmt: skip


PLAN = {
    "summary": "Add greet and call it",
    "steps": [
        {"description": "Create greet module", "type": "create_file",
         "target_files": ["app/greet.py"]},
        {"description": "Call greet", "type": "modify_file", "target_files": ["app/main.py"],
         "dependencies": [0]},
    ],
}  # fmt: skip


def test_plan_is_reasked_with_the_validation_error_and_then_accepted(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    write_tree(tmp_path, {"app/main.py": "def main():\n    pass\n"})
    analysis = analyze_repository(tmp_path)
    bad = {"steps": [{"description": "x", "type": "rewrite_everything"}]}
    model_server.say(json.dumps(bad), "```json\n" + json.dumps(PLAN) + "\n```")
    engine = build_engine("llm", config_for(model_server, provider))

    result = engine.plan(feature(), analysis)

    assert [(s.index, s.type, s.target_files) for s in result.plan.steps] == [
        (0, StepType.CREATE_FILE, ["app/greet.py"]),
        (1, StepType.MODIFY_FILE, ["app/main.py"]),
    ]
    assert result.plan.affected_files == ["app/greet.py", "app/main.py"]
    assert len(result.usage) == 2
    assert all(u.provider == provider and u.model == "scripted-1" for u in result.usage)
    u = result.usage[0]
    assert u.cost_usd == pytest.approx(u.input_tokens / 1000 * 0.5 + u.output_tokens / 1000 * 1.5)
    feedback = model_server.last_user_message()
    assert "steps.0.type" in feedback and "rewrite_everything" not in feedback.split("Reply")[1]
    assert "main" in json.dumps(model_server.requests[0]["body"])  # symbols reached the model
    expected_path = "/v1/chat/completions" if provider == "openai" else "/v1/messages"
    assert model_server.requests[0]["path"] == expected_path


def test_the_plan_is_asked_for_as_structured_output_and_read_from_it(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    write_tree(tmp_path, {"app/main.py": "def main():\n    pass\n"})
    # a bare JSON object: as structured output, with no markdown to scrape it from
    model_server.say(json.dumps(PLAN))
    engine = build_engine("llm", config_for(model_server, provider))

    result = engine.plan(feature(), analyze_repository(tmp_path))

    assert [s.target_files for s in result.plan.steps] == [["app/greet.py"], ["app/main.py"]]
    body = model_server.requests[0]["body"]
    if provider == "openai":
        assert body["response_format"]["type"] == "json_schema"
        assert "steps" in json.dumps(body["response_format"]["json_schema"]["schema"])
        # the current parameter name; the deprecated `max_tokens` is not sent
        assert "max_completion_tokens" in body and "max_tokens" not in body
    else:
        assert body["tool_choice"] == {"type": "tool", "name": "submit_plan"}
        assert body["tools"][0]["name"] == "submit_plan"


def test_an_older_openai_compatible_server_can_keep_max_tokens(
    tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    write_tree(tmp_path, {"app/main.py": "def main():\n    pass\n"})
    model_server.say(json.dumps(PLAN))
    config = config_for(model_server, "openai", openai_max_tokens_param="max_tokens")
    build_engine("llm", config).plan(feature(), analyze_repository(tmp_path))
    body = model_server.requests[0]["body"]
    assert "max_tokens" in body and "max_completion_tokens" not in body


def test_plan_that_breaks_constraints_is_fed_back_then_fails_precisely(
    model_server: ScriptedModelServer,
) -> None:
    model_server.say(json.dumps(PLAN), json.dumps(PLAN).replace("Call greet", "Call it"))
    engine = LLMEngine(config_for(model_server, "openai", max_feedback_rounds=1))
    with pytest.raises(PlanningFailed) as caught:
        engine.plan(feature(forbidden_paths=["app/main.py"]), None)
    assert "after 2 attempts" in caught.value.message
    assert "'app/main.py' matches forbidden pattern 'app/main.py'" in caught.value.message
    assert "matches forbidden pattern" in model_server.last_user_message()
    assert len(caught.value.details["usage"]) == 2


def test_edits_apply_with_exact_whitespace_and_fuzzy_matching_and_whole_files(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    write_tree(
        tmp_path,
        {
            "app/exact.py": "def a():\n    return 1\n",
            "app/spaces.py": "class K:\n    def b(self):\n        return  2\n",
            "app/fuzzy.py": "def c():\n    # compute the answer quickly\n    value = 40 + 2\n"
            "    return value\n",
            "app/old.py": "legacy = True\n",
        },
    )
    answer = (
        "Here are the edits.\n\n"
        + fence("app/exact.py", ("    return 1\n", "    return 10\n"))
        + "\n"
        # re-indented and re-spaced copy of the method
        + fence("app/spaces.py", ("def b(self):\n    return 2\n", "def b(self):\n    return 20\n"))
        + "\n"
        # comment copied imperfectly
        + fence(
            "app/fuzzy.py",
            (
                "    # compute the answer\n    value = 40 + 2\n    return value\n",
                "    value = 42\n    return value\n",
            ),
        )
        + "\napp/greet.py\n```python\ndef greet(name):\n    return f'hi {name}'\n```\n"
        + "\nDELETE app/old.py\n"
    )
    model_server.say(answer)
    engine = LLMEngine(config_for(model_server, provider))
    view = FilesystemWorkspace(tmp_path)

    result = engine.generate(
        feature(), step("app/exact.py", "app/spaces.py", "app/fuzzy.py"), view, Budget()
    )

    by_path = {e.path: e for e in result.edits}
    assert by_path["app/exact.py"] == WriteEdit(
        path="app/exact.py", content="def a():\n    return 10\n"
    )
    assert by_path["app/spaces.py"].content == "class K:\n    def b(self):\n        return 20\n"  # type: ignore[union-attr]
    assert by_path["app/fuzzy.py"].content == "def c():\n    value = 42\n    return value\n"  # type: ignore[union-attr]
    assert by_path["app/greet.py"].content == "def greet(name):\n    return f'hi {name}'\n"  # type: ignore[union-attr]
    assert by_path["app/old.py"] == DeleteEdit(path="app/old.py")
    notes = "\n".join(result.notes)
    assert "app/exact.py: block 1 applied (exact match" in notes
    assert "app/spaces.py: block 2 applied (whitespace match" in notes
    assert "app/fuzzy.py: block 3 applied (fuzzy match" in notes
    assert "app/greet.py: whole file written" in notes
    assert len(result.usage) == 1
    prompt = json.dumps(model_server.requests[0]["body"])
    assert "compute the answer quickly" in prompt  # the target file content was shown


def test_malformed_edit_is_corrected_on_the_second_try(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    write_tree(tmp_path, {"app/main.py": "def main():\n    pass\n"})
    broken = (
        "app/main.py\n```python\n<<<<<<< SEARCH\n    pass\n    print('hi')\n>>>>>>> REPLACE\n```\n"
    )
    fixed = fence("app/main.py", ("    pass\n", "    print('hi')\n"))
    model_server.say(broken, fixed)
    engine = LLMEngine(config_for(model_server, provider))

    result = engine.generate(
        feature(), step("app/main.py"), FilesystemWorkspace(tmp_path), Budget()
    )

    assert result.edits == [WriteEdit(path="app/main.py", content="def main():\n    print('hi')\n")]
    assert len(result.usage) == 2
    assert "SEARCH section has no ======= divider" in model_server.last_user_message()
    # the model saw its own broken answer before the correction request
    second = model_server.requests[1]["body"]["messages"]
    assert any(m["role"] == "assistant" and "<<<<<<< SEARCH" in str(m["content"]) for m in second)


def test_search_text_that_is_missing_or_ambiguous_is_fed_back(
    tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    write_tree(tmp_path, {"a.py": "x = 1\ny = 2\nx = 1\n"})
    model_server.say(
        fence("a.py", ("x = 1\n", "x = 3\n")),
        fence("a.py", ("completely different text here\n", "z\n")),
        fence("a.py", ("y = 2\nx = 1\n", "y = 2\nx = 3\n")),
    )
    engine = LLMEngine(config_for(model_server, "openai"))
    result = engine.generate(feature(), step("a.py"), FilesystemWorkspace(tmp_path), Budget())
    assert result.edits[0].content == "x = 1\ny = 2\nx = 3\n"  # type: ignore[union-attr]
    assert "occurs 2 times" in model_server.last_user_message(1)
    assert "was not found (best similarity" in model_server.last_user_message(2)


def test_edit_to_a_forbidden_path_is_refused_and_fed_back(
    tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    write_tree(tmp_path, {"src/a.py": "a = 1\n"})
    model_server.say("secrets.env\n```\nTOKEN=x\n```\n", fence("src/a.py", ("a = 1\n", "a = 2\n")))
    engine = LLMEngine(config_for(model_server, "openai"))
    result = engine.generate(
        feature(allowed_paths=["src/"]), step("src/a.py"), FilesystemWorkspace(tmp_path), Budget()
    )
    assert [e.path for e in result.edits] == ["src/a.py"]
    assert "'secrets.env' is outside the allowed paths" in model_server.last_user_message()


def test_token_budget_stops_the_run_before_a_call_that_cannot_fit(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    write_tree(tmp_path, {"a.py": "a = 1\n"})
    model_server.script.append(Reply(text="no blocks here", input_tokens=700, output_tokens=250))
    engine = LLMEngine(config_for(model_server, provider, max_tokens_budget=1000))
    budget = engine.budget()

    with pytest.raises(BudgetExceeded) as caught:
        engine.generate(feature(), step("a.py"), FilesystemWorkspace(tmp_path), budget)

    assert caught.value.message.startswith("token budget exceeded: spent 950 of 1000 tokens")
    assert len(model_server.requests) == 1  # the second call was never made
    assert budget.spent_tokens == 950
    assert not caught.value.retryable


def test_cost_budget_counts_earlier_spend_of_the_execution(
    tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    engine = LLMEngine(config_for(model_server, "anthropic", max_cost_usd=0.01))
    from activities.codegen import Usage

    earlier = [
        Usage(provider="anthropic", model="m", input_tokens=10, output_tokens=10, cost_usd=0.0099)
    ]
    with pytest.raises(BudgetExceeded, match=r"cost budget exceeded: spent \$0.0099 of \$0.0100"):
        engine.plan(feature(), None, budget=engine.budget(earlier))
    assert model_server.requests == []


def test_identical_repeated_response_is_detected_as_a_loop(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    write_tree(tmp_path, {"a.py": "a = 1\n"})
    same = fence("a.py", ("b = 2\n", "b = 3\n"))
    model_server.say(same, same + "\n", same)
    engine = LLMEngine(config_for(model_server, provider, max_feedback_rounds=5))
    with pytest.raises(GenerationFailed, match="model repeated the same response for step 0"):
        engine.generate(feature(), step("a.py"), FilesystemWorkspace(tmp_path), Budget())
    assert len(model_server.requests) == 2


def test_feedback_rounds_are_bounded(tmp_path: Path, model_server: ScriptedModelServer) -> None:
    write_tree(tmp_path, {"a.py": "a = 1\n"})
    model_server.say("no edits 1", "no edits 2", "no edits 3", "never asked")
    engine = LLMEngine(config_for(model_server, "openai", max_feedback_rounds=2))
    with pytest.raises(GenerationFailed, match="still failed after 3 attempts: no edit blocks"):
        engine.generate(feature(), step("a.py"), FilesystemWorkspace(tmp_path), Budget())
    assert len(model_server.requests) == 3


def test_repair_reads_the_failure_log_and_the_files_it_names(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    write_tree(tmp_path, {"calc.py": "def add(a, b):\n    return a - b\n", "other.py": "o = 1\n"})
    log = "FAILED tests/test_calc.py::test_add\ncalc.py:2: AssertionError: assert -1 == 3\n"
    model_server.say(fence("calc.py", ("    return a - b\n", "    return a + b\n")))
    engine = build_engine("llm", config_for(model_server, provider))
    result = engine.repair(feature(), log, FilesystemWorkspace(tmp_path), Budget())
    assert result.edits == [WriteEdit(path="calc.py", content="def add(a, b):\n    return a + b\n")]
    prompt = json.dumps(model_server.requests[0]["body"])
    assert "assert -1 == 3" in prompt and "return a - b" in prompt and "o = 1" not in prompt


def test_server_error_is_a_retryable_failure_without_the_api_key(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    model_server.script.append(Reply(status=503))
    engine = LLMEngine(config_for(model_server, provider))
    with pytest.raises(ModelCallFailed) as caught:
        engine.plan(feature(), None)
    assert caught.value.retryable
    assert "HTTP 503" in caught.value.message
    assert API_KEY not in caught.value.message and API_KEY not in repr(engine.config)
    assert len(model_server.requests) == 1  # SDK retries are off
    sent = model_server.headers[0]
    assert API_KEY in (sent.get("authorization", "") + sent.get("x-api-key", ""))


def test_cancellation_stops_a_slow_model_call_promptly(
    tmp_path: Path, model_server: ScriptedModelServer, provider: str
) -> None:
    model_server.script.append(Reply(text=json.dumps(PLAN), delay_seconds=3))
    engine = LLMEngine(config_for(model_server, provider))
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(OperationCancelled, match="model call was cancelled"):
        engine.plan(feature(), None, cancel=cancel)
    assert time.monotonic() - started < 2


def test_request_without_changes_needs_a_configured_model() -> None:
    with pytest.raises(ValidationFailed) as caught:
        require_engine_available(None, None)
    message = caught.value.message
    for name in (
        "BUILDER_LLM_PROVIDER",
        "BUILDER_LLM_MODEL",
        "BUILDER_LLM_BASE_URL",
        "BUILDER_LLM_API_KEY",
    ):
        assert name in message
    changes = declared_changes_adapter.validate_python(
        [{"op": "write_file", "path": "a", "content": ""}]
    )
    require_engine_available(changes, None)
    require_engine_available(None, LLMConfig(provider="openai", model="m"))
    assert build_engine("spec").kind == "spec"

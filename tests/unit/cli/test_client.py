"""The client CLI's argument handling, spec merging, SSE parsing and problem formatting."""

from __future__ import annotations

import argparse
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from builder.cli import CliError, build_parser, main
from builder.cli.client import (
    ProgressView,
    SseEvent,
    credential_body,
    execution_request,
    format_problem,
    parse_change,
    parse_property,
    parse_sse,
    resolve_api_key,
)
from builder.cli.exits import ExitCode

PROBLEM = {
    "type": "https://builder.dev/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "the request has 2 invalid fields",
    "errors": [
        {"field": "name", "message": "name must be 1-255 characters"},
        {"field": "url", "message": "url is required"},
    ],
}


class _ProblemServer(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        body = json.dumps(PROBLEM).encode()
        self.send_response(422)
        self.send_header("Content-Type", "application/problem+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


@pytest.fixture
def problem_api() -> Iterator[tuple[str, list[tuple[str, str, str | None]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ProblemServer)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def test_problem_documents_print_as_one_line_with_field_errors() -> None:
    response = httpx.Response(422, json=PROBLEM)
    assert format_problem(response) == (
        "Validation failed: the request has 2 invalid fields "
        "(name: name must be 1-255 characters; url: url is required)"
    )


def test_a_non_problem_error_names_the_status_and_first_line() -> None:
    response = httpx.Response(502, text="Bad gateway\nupstream down")
    assert format_problem(response) == "HTTP 502: Bad gateway"


def test_cli_prints_the_api_problem_on_stderr_and_exits_with_the_usage_code(
    problem_api: tuple[str, list[tuple[str, str, str | None]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, seen = problem_api
    code = main(["repos", "add", "demo", "file:///x.git", "--api-url", url, "--api-key", "bld_k"])
    assert code == ExitCode.USAGE == 2
    err = capsys.readouterr().err
    assert err == (
        "builder: Validation failed: the request has 2 invalid fields "
        "(name: name must be 1-255 characters; url: url is required)\n"
    )
    assert seen == [("POST", "/v1/repositories", "Bearer bld_k")]


def test_an_unreachable_api_says_where_it_looked(capsys: pytest.CaptureFixture[str]) -> None:
    from builder.stack.ports import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["status", "abc", "--api-url", url, "--api-key", "bld_k"]) == 5
    assert f"builder: cannot reach the API at {url}" in capsys.readouterr().err


def test_api_key_comes_from_flag_then_env_then_the_dev_state_file(tmp_path: Path) -> None:
    (tmp_path / "dev-api-key").write_text("bld_from_file\n")
    env = {"BUILDER_STATE_DIR": str(tmp_path)}
    assert resolve_api_key("bld_flag", {**env, "BUILDER_API_KEY": "bld_env"}) == "bld_flag"
    assert resolve_api_key(None, {**env, "BUILDER_API_KEY": "bld_env"}) == "bld_env"
    assert resolve_api_key(None, env) == "bld_from_file"


def test_a_missing_api_key_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="no API key: pass --api-key, set BUILDER_API_KEY"):
        resolve_api_key(None, {"BUILDER_STATE_DIR": str(tmp_path)})


def test_properties_parse_json_values_and_refuse_missing_equals() -> None:
    assert parse_property("team=core") == ("team", "core")
    assert parse_property("priority=3") == ("priority", 3)
    with pytest.raises(CliError, match="--property must look like key=value, got 'team'"):
        parse_property("team")


def test_a_change_must_be_a_json_object_with_an_op() -> None:
    assert parse_change('{"op":"delete_file","path":"a"}')["op"] == "delete_file"
    with pytest.raises(CliError, match="--change is not valid JSON"):
        parse_change("{op:")
    with pytest.raises(CliError, match='must be a JSON object with an "op"'):
        parse_change('{"path":"a"}')


def _run_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", "demo", *argv])


def test_run_merges_the_spec_file_with_flags_and_extra_changes(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "title: From the spec\ndescription: Spec description\n"
        "changes:\n  - {op: write_file, path: a.txt, content: a}\n"
    )
    args = _run_args(
        "--spec", str(spec), "--title", "From a flag",
        "--change", '{"op":"delete_file","path":"b.txt"}',
    )  # fmt: skip
    body = execution_request(args, "repo-1")
    assert body["repository_id"] == "repo-1"
    assert body["title"] == "From a flag"
    assert body["description"] == "Spec description"
    assert [c["op"] for c in body["changes"]] == ["write_file", "delete_file"]


def test_a_follow_up_run_names_the_execution_it_continues(tmp_path: Path) -> None:
    args = _run_args(
        "--title", "Address the review", "--description", "Fix what the review asked for",
        "--engine", "llm", "--continue-from", "0d0d0d0d-0000-4000-8000-0000000000aa",
        "--address-review",
    )  # fmt: skip
    body = execution_request(args, "repo-1")
    assert body["continue_from"] == "0d0d0d0d-0000-4000-8000-0000000000aa"
    assert body["properties"] == {"address_review": True}
    assert "continue_branch" not in body


def test_run_without_a_title_or_description_names_both(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="--title and --description required"):
        execution_request(_run_args(), "repo-1")


def test_a_spec_file_with_an_unknown_field_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"title": "t", "descripton": "typo"}))
    with pytest.raises(CliError, match="unknown fields descripton"):
        execution_request(_run_args("--spec", str(spec)), "repo-1")


def test_token_credentials_are_read_from_stdin_never_from_arguments() -> None:
    args = build_parser().parse_args(["creds", "set", "demo", "--type", "token", "--token-stdin"])
    assert credential_body(args, io.StringIO("ghp_secret\n")) == {
        "type": "token",
        "token": "ghp_secret",
    }
    no_stdin = build_parser().parse_args(["creds", "set", "demo", "--type", "token"])
    with pytest.raises(CliError, match="--type token needs --token-stdin"):
        credential_body(no_stdin, io.StringIO(""))


def test_basic_credentials_need_a_username_and_a_password_on_stdin() -> None:
    args = build_parser().parse_args(
        ["creds", "set", "demo", "--type", "basic", "--password-stdin"]
    )
    with pytest.raises(CliError, match="--type basic needs --username U and --password-stdin"):
        credential_body(args, io.StringIO("pw"))


def test_sse_frames_skip_heartbeats_and_keep_ids_types_and_json() -> None:
    lines = [
        ": stream open", "",
        "id: 3", "event: step.started", 'data: {"payload": {"step_index": 0}}', "",
        ": heartbeat", "",
        "id: 4", "event: execution.completed", "data: {}", "",
    ]  # fmt: skip
    events = list(parse_sse(lines))
    assert [(e.id, e.type) for e in events] == [(3, "step.started"), (4, "execution.completed")]
    assert events[0].data == {"payload": {"step_index": 0}}


def test_progress_without_a_terminal_prints_one_line_per_event() -> None:
    out = io.StringIO()
    view = ProgressView(out, tty=False)
    for kind, payload in [
        ("plan.created", {"steps": [{"index": 0}, {"index": 1}]}),
        ("step.started", {"step_index": 0, "description": "write a.txt"}),
        ("step.completed", {"step_index": 0}),
        ("execution.failed", {}),
    ]:
        view.on_event(SseEvent(type=kind, data={"payload": payload}))
    assert out.getvalue().splitlines() == [
        "plan: 2 step(s)",
        "step 1/2 started: write a.txt",
        "step 1/2 completed",
        "execution failed",
    ]


def test_progress_on_a_terminal_redraws_one_bar() -> None:
    out = io.StringIO()
    view = ProgressView(out, tty=True)
    view.on_event(SseEvent(type="plan.created", data={"payload": {"steps": [{}, {}]}}))
    view.on_event(SseEvent(type="step.completed", data={"payload": {}}))
    view.finish()
    assert out.getvalue().count("\r\x1b[K") == 2
    assert "[############------------] 1/2 steps" in out.getvalue()
    assert out.getvalue().endswith("\n")


def test_status_says_when_an_execution_waits_for_a_slot() -> None:
    from builder.cli.client import execution_summary

    ex = {"id": "e1", "state": "pending", "title": "t", "target_branch": "main"}
    assert "queued" not in execution_summary({**ex, "queue_position": None})
    waiting = execution_summary({**ex, "queue_position": 2})
    assert "  queued:  position 2 for one of the tenant's execution slots" in waiting.splitlines()

"""The CLI's own contract: one-line usage errors, --version, help on every flag, output
modes, the executions list query, and progress lines that say when a phase failed."""

from __future__ import annotations

import argparse
import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from builder.cli import CliError, build_parser, main, version
from builder.cli.client import (
    ProgressView,
    SseEvent,
    execution_request,
    parse_moment,
    parse_states,
    phase_line,
)
from builder.cli.exits import MEANINGS, ExitCode, exit_code_for_status

EXECUTION = {
    "id": "0d0d0d0d-0000-4000-8000-0000000000aa",
    "state": "failed",
    "created_at": "2024-05-01T12:00:00Z",
    "title": "Add a greeting",
}
REPO = {
    "id": "0d0d0d0d-0000-4000-8000-0000000000bb",
    "name": "demo",
    "url": "https://git.example.com/demo.git",
    "default_branch": "main",
    "state": "active",
    "credential": None,
}


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with a canned page and records what was asked."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append(("GET", self.path))  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        items = [REPO] if path == "/v1/repositories" else [EXECUTION] * 3
        body = json.dumps({"items": items, "total": 7, "limit": 3, "offset": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.server.seen.append(("POST", self.path))  # type: ignore[attr-defined]
        self.send_response(500)
        self.end_headers()


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def _walk(parser: argparse.ArgumentParser, path: str = "builder") -> Iterator[tuple[str, Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, child in action.choices.items():
                yield f"{path} {name}", helps.get(name)
                yield from _walk(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action.help


def test_every_command_flag_and_argument_has_help() -> None:
    missing = [where for where, help in _walk(build_parser()) if not help]
    assert missing == []


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"builder {version()}\n"
    assert version() != "unknown"


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for code, meaning in MEANINGS.items():
        assert f"{int(code):>3}  {meaning}" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["run"],
        ["run", "demo", "--engine", "magic"],
        ["executions", "list", "--limit", "many"],
        ["status", "x", "--output", "xml"],
        ["nonsense"],
    ],
)
def test_bad_arguments_are_one_line_and_exit_with_the_usage_code(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("builder: ") and "--help" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["repos", "secrets", "set", "r", "TOKEN", "--value=hunter2"], "--value, 1 value(s)"),
        (["repos", "list", "--token", "hunter2"], "--token, 1 value(s)"),
        (["repos", "list", "--bogus"], "--bogus ("),
        (["repos", "list", "-Zhunter2"], "1 value(s), not repeated"),
        (["repos", "list", "--Hunter2=x"], "1 value(s), not repeated"),
    ],
)
def test_an_unrecognized_argument_is_named_but_its_value_never_repeated(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "hunter2" not in err and f"unrecognized arguments: {said}" in err, err


def test_a_value_glued_to_a_flag_that_takes_none_is_not_repeated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["repos", "list", "-hunter2"])
    assert exited.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "unter2" not in err and "argument -h/--help: takes no value" in err, err


def test_http_statuses_map_to_documented_exit_codes() -> None:
    expected = {
        400: ExitCode.USAGE,
        401: ExitCode.AUTH,
        403: ExitCode.AUTH,
        404: ExitCode.NOT_FOUND,
        409: ExitCode.CONFLICT,
        413: ExitCode.USAGE,
        422: ExitCode.USAGE,
        429: ExitCode.UNAVAILABLE,
        500: ExitCode.UNAVAILABLE,
        503: ExitCode.UNAVAILABLE,
    }
    assert {s: exit_code_for_status(s) for s in expected} == expected


def test_json_is_an_alias_of_output_json() -> None:
    parse = build_parser().parse_args
    assert parse(["status", "x", "--json"]).output == "json"
    assert parse(["status", "x", "--output", "jsonl"]).output == "jsonl"
    assert parse(["status", "x"]).output == "text"


def test_run_sends_the_chosen_engine() -> None:
    args = build_parser().parse_args(
        ["run", "demo", "--title", "t", "--description", "ten chars!", "--engine", "llm"]
    )
    assert execution_request(args, "r")["engine"] == "llm"


def test_a_spec_run_without_changes_is_refused_before_anything_is_sent(
    recorder: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, seen = recorder
    argv = ["run", "demo", "--title", "t", "--description", "a description"]
    code = main([*argv, "--api-url", url, "--api-key", "k"])
    assert code == ExitCode.USAGE
    assert seen == []
    assert capsys.readouterr().err.startswith("builder: the spec engine needs declared changes")


def test_states_accept_repeats_and_commas_and_refuse_unknown_ones() -> None:
    assert parse_states(["failed,cancelled", "failed"]) == ["failed", "cancelled"]
    with pytest.raises(CliError, match="--state 'broken' is not a state") as err:
        parse_states(["broken"])
    assert err.value.code == ExitCode.USAGE


def test_since_takes_an_iso_time_or_an_age() -> None:
    now = datetime(2024, 5, 8, 12, 0, tzinfo=UTC)
    assert parse_moment("2h", "--since", now) == "2024-05-08T10:00:00+00:00"
    assert parse_moment("7d", "--since", now) == "2024-05-01T12:00:00+00:00"
    assert parse_moment("2024-05-01T12:00Z", "--since") == "2024-05-01T12:00:00+00:00"
    assert datetime.fromisoformat(parse_moment("2024-05-01", "--since")).tzinfo is not None
    with pytest.raises(CliError, match="--since must be an ISO 8601 time"):
        parse_moment("last tuesday", "--since")


def test_executions_list_sends_the_filters_and_pages_up_to_the_limit(
    recorder: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, seen = recorder
    argv = ["executions", "list", "--state", "failed,cancelled", "--repository", "demo"]
    argv += ["--since", "2024-05-01T00:00Z", "--text", "greeting", "--limit", "5"]
    assert main([*argv, "--output", "jsonl", "--api-url", url, "--api-key", "k"]) == 0
    listed = [urlsplit(p) for m, p in seen if urlsplit(p).path == "/v1/executions"]
    first = parse_qs(listed[0].query)
    assert first == {
        "states": ["failed", "cancelled"],
        "repository_id": [REPO["id"]],
        "created_after": ["2024-05-01T00:00:00+00:00"],
        "q": ["greeting"],
        "limit": ["5"],
        "offset": ["0"],
    }
    assert parse_qs(listed[1].query)["limit"] == ["2"]  # 3 already shown, 5 wanted
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(json.loads(line)["id"] == EXECUTION["id"] for line in lines)


def test_executions_list_as_text_says_when_more_exist(
    recorder: tuple[str, list[tuple[str, str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _seen = recorder
    assert main(["executions", "list", "--limit", "3", "--api-url", url, "--api-key", "k"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{EXECUTION['id']}  failed") and out[0].endswith("Add a greeting")
    assert out[-1] == "(3 of 7; raise --limit for more)"


BUILD = "build.completed"


@pytest.mark.parametrize(
    ("kind", "payload", "line"),
    [
        (BUILD, {"phase": "setup", "passed": False, "exit_code": 1}, "setup failed (exit 1)"),
        (BUILD, {"phase": "build", "passed": False, "exit_code": 2}, "build failed (exit 2)"),
        (BUILD, {"phase": "build", "passed": True, "exit_code": 0}, "build passed"),
        (BUILD, {"phase": "build", "passed": True, "skipped": True}, "build skipped (no command)"),
        (
            "test.completed",
            {"phase": "test", "passed": False, "exit_code": 1,
             "tests": {"total": 736, "passed": 734, "failed": 1, "errors": 1, "skipped": 0}},
            "tests failed: 2 of 736",
        ),
        (
            "test.completed",
            {"phase": "test", "passed": True, "tests": {"total": 736, "passed": 736}},
            "tests passed: 736 of 736",
        ),
        ("test.completed", {"phase": "test", "passed": False, "exit_code": 3},
         "tests failed (exit 3)"),
        ("test.completed", {}, "tests passed"),
    ],
)  # fmt: skip
def test_phase_events_say_whether_the_phase_failed(
    kind: str, payload: dict[str, Any], line: str
) -> None:
    assert phase_line(kind, payload) == line


def test_progress_prints_a_failed_setup_as_failed_not_completed() -> None:
    out = io.StringIO()
    view = ProgressView(out, tty=False)
    view.on_event(
        SseEvent(
            type="build.completed",
            data={"payload": {"phase": "setup", "passed": False, "exit_code": 127}},
        )
    )
    view.on_event(SseEvent(type="push.completed", data={"payload": {"branch": "builder/x"}}))
    assert out.getvalue().splitlines() == ["setup failed (exit 127)", "pushed builder/x"]


def test_progress_says_when_setup_was_skipped_on_a_cached_environment() -> None:
    out = io.StringIO()
    view = ProgressView(out, tty=False)
    skipped = {"phase": "setup", "reason": "cache_hit", "environment": "ab12"}
    view.on_event(SseEvent(type="setup.skipped", data={"payload": skipped}))
    view.on_event(SseEvent(type="build.completed", data={"payload": {"phase": "build"}}))
    assert out.getvalue().splitlines() == ["setup skipped (environment cached)", "build passed"]

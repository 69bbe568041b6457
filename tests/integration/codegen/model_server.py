"""A scripted model server: real HTTP on 127.0.0.1 speaking the OpenAI chat completions and
Anthropic messages wire formats, answering with scripted responses in order."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: text and billed tokens, or an HTTP error status."""

    text: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    status: int = 200
    delay_seconds: float = 0.0
    # native tool calls (name, arguments) answered in the provider's own format
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class ScriptedModelServer:
    host: str = "127.0.0.1"
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # a conversation script: the reply to a request is chosen by how many assistant turns
    # the request already holds, so a re-asked turn gets the same reply and is counted
    turns: list[Reply] | None = None
    turn_requests: dict[int, int] = field(default_factory=dict)
    # answered turns (a held request that is never answered is not counted here)
    turn_answers: dict[int, int] = field(default_factory=dict)
    # turns whose first request is held unanswered until `release` is set, then refused
    # with a 503: a test kills the asking worker meanwhile (the turn before it is stored)
    hold: set[int] = field(default_factory=set)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": body})
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                turn = sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")
                if server.turns is not None:
                    server.turn_requests[turn] = server.turn_requests.get(turn, 0) + 1
                    if turn >= len(server.turns):
                        self._send(500, {"error": {"message": f"no scripted turn {turn}"}})
                        return
                    reply = server.turns[turn]
                    if turn in server.hold:
                        server.hold.discard(turn)
                        server.held.set()
                        server.release.wait(60)
                        self._send(503, {"error": {"message": "held and dropped"}})
                        return
                    server.turn_answers[turn] = server.turn_answers.get(turn, 0) + 1
                elif not server.script:
                    self._send(500, {"error": {"message": "script exhausted"}})
                    return
                else:
                    reply = server.script.pop(0)
                if reply.delay_seconds:
                    time.sleep(reply.delay_seconds)
                if reply.status != 200:
                    self._send(reply.status, {"error": {"message": "scripted failure"}})
                    return
                prompt_chars = len(json.dumps(body.get("messages", [])))
                inp = reply.input_tokens if reply.input_tokens is not None else prompt_chars // 4
                out = (
                    reply.output_tokens if reply.output_tokens is not None else len(reply.text) // 4
                )
                if reply.tool_calls and self.path.endswith("/chat/completions"):
                    self._send(200, _openai_tools(body["model"], reply, turn, inp, out))
                elif reply.tool_calls and self.path.endswith("/messages"):
                    self._send(200, _anthropic_tools(body["model"], reply, turn, inp, out))
                elif self.path.endswith("/chat/completions"):
                    self._send(200, _openai(body["model"], reply.text, inp, out))
                elif self.path.endswith("/messages"):
                    forced = (body.get("tool_choice") or {}).get("name")
                    self._send(200, _anthropic(body["model"], reply.text, inp, out, forced))
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                with contextlib.suppress(OSError):  # the asking worker may be dead
                    self._write(status, data)

            def _write(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def openai_base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def say(self, *texts: str, **kw: Any) -> None:
        self.script.extend(Reply(text=t, **kw) for t in texts)

    def last_user_message(self, n: int = -1) -> str:
        messages = self.requests[n]["body"]["messages"]
        content = messages[-1]["content"]
        return content if isinstance(content, str) else json.dumps(content)


def _openai(model: str, text: str, inp: int, out: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
    }


def _anthropic(
    model: str, text: str, inp: int, out: int, forced_tool: str | None = None
) -> dict[str, Any]:
    """A text answer, or (when the request forces a tool and the scripted text is a JSON
    object) that tool's call with the object as its input, as Anthropic answers it."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    stop = "end_turn"
    if forced_tool is not None:
        try:
            called = json.loads(text)
        except ValueError:
            called = None
        if isinstance(called, dict):
            content = [
                {"type": "tool_use", "id": "toolu_scripted", "name": forced_tool, "input": called}
            ]
            stop = "tool_use"
    return {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out},
    }


def _openai_tools(model: str, reply: Reply, turn: int, inp: int, out: int) -> dict[str, Any]:
    """A chat completion whose message carries tool_calls (OpenAI's function calling)."""
    calls = [
        {
            "id": f"call_{turn}_{n}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for n, (name, args) in enumerate(reply.tool_calls)
    ]
    answer = _openai(model, reply.text, inp, out)
    answer["choices"][0]["message"] = {
        "role": "assistant",
        "content": reply.text or None,
        "tool_calls": calls,
    }
    answer["choices"][0]["finish_reason"] = "tool_calls"
    return answer


def _anthropic_tools(model: str, reply: Reply, turn: int, inp: int, out: int) -> dict[str, Any]:
    """A message with tool_use blocks (Anthropic's tool use)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}] if reply.text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{turn}_{n}", "name": name, "input": args}
        for n, (name, args) in enumerate(reply.tool_calls)
    ]
    answer = _anthropic(model, reply.text, inp, out)
    answer["content"] = content
    answer["stop_reason"] = "tool_use"
    return answer

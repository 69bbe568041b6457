"""An execution's progress as its events arrive: a redrawn bar on a terminal, one plain
line per event otherwise (logs, CI). Phase events say what happened (`setup failed`,
`tests failed: 2 of 736`), read from the payloads the verification phase stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any

from builder.cli.http import TERMINAL_EVENTS, SseEvent


def phase_line(kind: str, payload: dict[str, Any]) -> str:
    """One line for a `build.completed` / `test.completed` event.

    The build event also reports a failed setup (payload `phase: setup`). Events written
    before payloads carried `passed` count as passed.
    """
    phase = str(payload.get("phase") or ("test" if kind == "test.completed" else "build"))
    name = "tests" if phase == "test" else phase
    if payload.get("skipped"):
        return f"{name} skipped (no command)"
    passed = payload.get("passed", True) is not False
    tests = payload.get("tests") if isinstance(payload.get("tests"), dict) else None
    if tests and tests.get("total"):
        total = int(tests["total"])
        if passed:
            return f"tests passed: {int(tests.get('passed', 0))} of {total}"
        broken = int(tests.get("failed", 0)) + int(tests.get("errors", 0))
        if broken:
            return f"tests failed: {broken} of {total}"
    if passed:
        return f"{name} passed"
    code = payload.get("exit_code")
    return f"{name} failed" + (f" (exit {code})" if code is not None else "")


@dataclass
class ProgressView:
    """Shows an execution's progress from its events."""

    out: IO[str]
    tty: bool | None = None
    total: int = 0
    done: int = 0
    phase: str = "pending"
    current: str = ""
    _drawn: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self.tty is None:
            self.tty = bool(getattr(self.out, "isatty", lambda: False)())

    def on_event(self, event: SseEvent) -> None:
        payload = (event.data or {}).get("payload", {}) if isinstance(event.data, dict) else {}
        line = self._apply(event.type, payload if isinstance(payload, dict) else {})
        if self.tty:
            if line:
                self.current = line
            self._draw()
        elif line:
            print(line, file=self.out, flush=True)

    def _apply(self, kind: str, payload: dict[str, Any]) -> str | None:
        if kind == "execution.state_changed":
            self.phase = str(payload.get("to") or payload.get("state") or self.phase)
            return f"state: {self.phase}"
        if kind == "plan.created":
            self.total = len(payload.get("steps") or [])
            return f"plan: {self.total} step(s)"
        if kind == "plan.approval_requested":
            return "plan awaits approval: builder approve <id> (or --reject)"
        if kind == "step.started":
            description = str(payload.get("description") or "")
            return (
                f"step {int(payload.get('step_index', 0)) + 1}/{self.total} started: {description}"
            )
        if kind == "step.completed":
            self.done += 1
            return f"step {self.done}/{self.total} completed"
        if kind == "step.failed":
            return f"step failed: {payload.get('error') or payload}"
        if kind in ("build.completed", "test.completed"):
            return phase_line(kind, payload)
        if kind == "setup.skipped":
            return "setup skipped (environment cached)"
        if kind == "push.completed":
            branch = payload.get("branch")
            return f"pushed {branch}" if branch else "push completed"
        if kind in TERMINAL_EVENTS:
            self.phase = kind.split(".", 1)[1]
            return f"execution {self.phase}"
        return None

    def _draw(self) -> None:
        width = 24
        filled = int(width * self.done / self.total) if self.total else 0
        bar = "#" * filled + "-" * (width - filled)
        text = f"[{bar}] {self.done}/{self.total or '?'} steps  {self.phase}  {self.current}"
        self.out.write("\r\x1b[K" + text[:120])
        self.out.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self.out.write("\n")
            self.out.flush()

"""Bounded capture of a command's output: lines as they come, head and tail kept, middle elided.

A build can print gigabytes; the runner must hold at most about `cap` bytes whatever it prints,
so the splitter bounds the length of a pending line and the capture drops the middle.
"""

from __future__ import annotations

from collections import deque


class LineSplitter:
    """Turns a byte stream into text lines; a line longer than `max_line` is cut into pieces."""

    def __init__(self, max_line: int) -> None:
        self._max_line = max_line
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> list[str]:
        self._pending += chunk
        lines: list[str] = []
        while True:
            newline = self._pending.find(b"\n")
            if newline < 0:
                break
            if newline > self._max_line:
                lines.append(_decode(self._pending[: self._max_line]))
                del self._pending[: self._max_line]
                continue
            lines.append(_decode(self._pending[:newline]))
            del self._pending[: newline + 1]
        while len(self._pending) > self._max_line:
            lines.append(_decode(self._pending[: self._max_line]))
            del self._pending[: self._max_line]
        return lines

    def flush(self) -> list[str]:
        if not self._pending:
            return []
        line = _decode(self._pending)
        self._pending.clear()
        return [line]


def _decode(raw: bytes | bytearray) -> str:
    return bytes(raw).decode("utf-8", errors="replace").removesuffix("\r")


class CappedOutput:
    """Keeps the first and last lines of the output within `cap` bytes in total."""

    def __init__(self, cap: int) -> None:
        self._head_limit = cap // 2
        self._tail_limit = cap - self._head_limit
        self._head: list[str] = []
        self._head_bytes = 0
        self._head_full = False
        self._tail: deque[tuple[str, int]] = deque()
        self._tail_bytes = 0
        self.elided_bytes = 0
        self.elided_lines = 0
        self.total_bytes = 0

    def add(self, line: str) -> None:
        size = len(line.encode("utf-8", errors="replace")) + 1
        self.total_bytes += size
        if not self._head_full:
            if self._head_bytes + size <= self._head_limit:
                self._head.append(line)
                self._head_bytes += size
                return
            self._head_full = True
        self._tail.append((line, size))
        self._tail_bytes += size
        while self._tail_bytes > self._tail_limit and self._tail:
            _, dropped = self._tail.popleft()
            self._tail_bytes -= dropped
            self.elided_bytes += dropped
            self.elided_lines += 1

    @property
    def truncated(self) -> bool:
        return self.elided_bytes > 0

    def render(self) -> str:
        parts = list(self._head)
        if self.truncated:
            parts.append(
                f"[... {self.elided_bytes} bytes ({self.elided_lines} lines) of output elided;"
                f" {self.total_bytes} bytes in total ...]"
            )
        parts.extend(line for line, _ in self._tail)
        return "\n".join(parts) + ("\n" if parts else "")

"""Unified diffs (plain or git-style) parsed and applied in pure Python.

Hunks must match their context exactly; a hunk is tried at its stated line first, then at the
nearest place the same context occurs (like `patch` without fuzz). Anything that does not
apply fails with a message naming the file, the hunk and the first line that differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from domain.errors import GenerationFailed

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DEV_NULL = "/dev/null"


@dataclass
class Hunk:
    """One `@@` section: `old` lines are context + removed, `new` are context + added."""

    header: str
    old_start: int
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    old_eof_no_newline: bool = False
    new_eof_no_newline: bool = False


@dataclass
class FilePatch:
    """The changes a diff makes to one file."""

    old_path: str | None
    new_path: str | None
    hunks: list[Hunk] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def label(self) -> str:
        return self.new_path or self.old_path or "?"


def _strip_prefix(raw: str) -> str | None:
    raw = raw.split("\t", 1)[0].strip()
    if raw == _DEV_NULL:
        return None
    if raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1]
    if raw.startswith(("a/", "b/")):
        raw = raw[2:]
    return raw


def parse_unified_diff(text: str) -> list[FilePatch]:
    """Every file patch of `text`; raises GenerationFailed on a malformed diff."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    patches: list[FilePatch] = []
    current: FilePatch | None = None
    git_header = False
    i = 0

    def fail(msg: str) -> GenerationFailed:
        return GenerationFailed(f"malformed diff at line {i + 1}: {msg}")

    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            m = re.match(r"diff --git (\S+) (\S+)$", line)
            old = _strip_prefix(m.group(1)) if m else None
            new = _strip_prefix(m.group(2)) if m else None
            current = FilePatch(old_path=old, new_path=new)
            patches.append(current)
            git_header = True
        elif git_header and current is not None and line.startswith("new file mode"):
            current.old_path = None
        elif git_header and current is not None and line.startswith("deleted file mode"):
            current.new_path = None
        elif git_header and current is not None and line.startswith("rename from "):
            current.old_path = line[len("rename from ") :].strip()
        elif git_header and current is not None and line.startswith("rename to "):
            current.new_path = line[len("rename to ") :].strip()
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old = _strip_prefix(line[4:])
            new = _strip_prefix(lines[i + 1][4:])
            if current is None or not git_header or current.hunks:
                current = FilePatch(old_path=old, new_path=new)
                patches.append(current)
            else:
                current.old_path, current.new_path = old, new
            git_header = False
            i += 1
        elif line.startswith("@@"):
            if current is None:
                raise fail("hunk header before any file header (--- / +++)")
            m = _HUNK.match(line)
            if not m:
                raise fail(f"bad hunk header {line!r}")
            old_len = int(m.group(2)) if m.group(2) is not None else 1
            new_len = int(m.group(4)) if m.group(4) is not None else 1
            hunk = Hunk(header=line, old_start=int(m.group(1)))
            current.hunks.append(hunk)
            git_header = False
            i += 1
            last = ""

            def mark_no_newline(tag: str, hunk: Hunk = hunk) -> None:
                if tag in ("-", " "):
                    hunk.old_eof_no_newline = True
                if tag in ("+", " "):
                    hunk.new_eof_no_newline = True

            while i < len(lines) and (len(hunk.old) < old_len or len(hunk.new) < new_len):
                body = lines[i]
                tag, rest = (body[:1], body[1:]) if body else (" ", "")
                if tag == " ":
                    hunk.old.append(rest)
                    hunk.new.append(rest)
                elif tag == "-":
                    hunk.old.append(rest)
                elif tag == "+":
                    hunk.new.append(rest)
                elif tag == "\\":
                    mark_no_newline(last)
                else:
                    raise fail(
                        f"hunk {line!r} of {current.label} ends early: expected "
                        f"{old_len} old and {new_len} new lines, found {len(hunk.old)} and "
                        f"{len(hunk.new)}"
                    )
                last = tag
                i += 1
            if len(hunk.old) < old_len or len(hunk.new) < new_len:
                raise fail(f"hunk {line!r} of {current.label} is truncated")
            if i < len(lines) and lines[i].startswith("\\"):
                mark_no_newline(last)
                i += 1
            continue
        i += 1
    if not patches:
        raise GenerationFailed("malformed diff: no file headers (--- / +++ or diff --git) found")
    for p in patches:
        if p.old_path is None and p.new_path is None:
            raise GenerationFailed("malformed diff: a file patch has /dev/null on both sides")
    return patches


def _split(content: str) -> tuple[list[str], bool]:
    if content == "":
        return [], True
    ends_with_newline = content.endswith("\n")
    lines = content.split("\n")
    if ends_with_newline:
        lines.pop()
    return lines, ends_with_newline


def _join(lines: list[str], newline_at_end: bool) -> str:
    if not lines:
        return ""
    return "\n".join(lines) + ("\n" if newline_at_end else "")


def _first_difference(lines: list[str], at: int, expected: list[str]) -> str:
    for k, want in enumerate(expected):
        n = at + k
        if n >= len(lines):
            return f"expected line {n + 1} to be {want!r}, but the file has only {len(lines)} lines"
        if lines[n] != want:
            return f"expected line {n + 1} to be {want!r}, found {lines[n]!r}"
    return "context not found"


def apply_file_patch(patch: FilePatch, content: str | None) -> str | None:
    """New content of the file (None when the patch deletes it)."""
    label = patch.label
    if patch.old_path is None:
        if content is not None:
            raise GenerationFailed(f"diff creates {label} but it already exists")
        lines: list[str] = []
        for hunk in patch.hunks:
            lines.extend(hunk.new)
        newline = not (patch.hunks and patch.hunks[-1].new_eof_no_newline)
        return _join(lines, newline)
    if content is None:
        raise GenerationFailed(f"diff modifies {patch.old_path} but it does not exist")
    lines, newline = _split(content)
    offset = 0
    for number, hunk in enumerate(patch.hunks, start=1):
        expected_at = max(hunk.old_start - 1, 0) + offset
        if not hunk.old:
            # pure insertion: old_start names the line after which to insert
            expected_at = hunk.old_start + offset
        at = _locate(lines, hunk.old, expected_at)
        if at is None:
            why = _first_difference(lines, expected_at, hunk.old)
            raise GenerationFailed(
                f"hunk {number} of {label} ({hunk.header.split(' @@')[0]} @@) does not apply: "
                f"{why}",
                details={"file": label, "hunk": number},
            )
        lines[at : at + len(hunk.old)] = hunk.new
        offset += (at - expected_at) + len(hunk.new) - len(hunk.old)
        if at + len(hunk.new) >= len(lines):
            if hunk.new_eof_no_newline:
                newline = False
            elif hunk.old_eof_no_newline:
                newline = True
    if patch.new_path is None:
        if lines:
            raise GenerationFailed(
                f"diff deletes {label} but the file has content the diff does not remove "
                f"(line {len(lines)}: {lines[-1]!r})"
            )
        return None
    return _join(lines, newline)


def _locate(lines: list[str], old: list[str], expected_at: int) -> int | None:
    n = len(old)
    if n == 0:
        return expected_at if 0 <= expected_at <= len(lines) else None

    def fits(at: int) -> bool:
        return 0 <= at <= len(lines) - n and lines[at : at + n] == old

    if fits(expected_at):
        return expected_at
    # nearest occurrence to where the hunk said it would be
    for delta in range(1, len(lines) + 1):
        for at in (expected_at - delta, expected_at + delta):
            if fits(at):
                return at
        if expected_at - delta < 0 and expected_at + delta > len(lines) - n:
            break
    return None

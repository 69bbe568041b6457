"""The `builder` command's exit codes, defined once: scripts branch on them, docs/cli.md
and `builder --help` list them from here."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a `builder` process ended with."""

    OK = 0
    RUN_FAILED = 1  # the execution ended failed or cancelled
    USAGE = 2  # bad flags, arguments, files or configuration; the API refused the input
    AUTH = 3  # no API key, or the API refused it
    NOT_FOUND = 4  # the execution, repository or artifact does not exist
    UNAVAILABLE = 5  # the API is unreachable, answered 5xx, or asked to retry later (429)
    CONFLICT = 6  # the request collides with current state (ended run, reused key)
    INTERRUPTED = 130  # Ctrl-C


MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.RUN_FAILED: "the execution failed or was cancelled",
    ExitCode.USAGE: "bad flags, arguments, files or configuration, or input the API refused",
    ExitCode.AUTH: "no API key, or the API refused it (401/403)",
    ExitCode.NOT_FOUND: "no such execution, repository or artifact (404)",
    ExitCode.UNAVAILABLE: "the API is unreachable, failed (5xx) or rate-limited (429)",
    ExitCode.CONFLICT: "the request collides with current state (409)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_for_status(status: int) -> ExitCode:
    """The exit code an HTTP error status maps to."""
    if status in (401, 403):
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    if status == 409:
        return ExitCode.CONFLICT
    if status == 429 or status >= 500:
        return ExitCode.UNAVAILABLE
    return ExitCode.USAGE


def exit_code_table() -> str:
    """The table `builder --help` prints."""
    return "\n".join(f"  {int(code):>3}  {MEANINGS[code]}" for code in ExitCode)

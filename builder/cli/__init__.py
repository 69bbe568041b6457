"""`builder` command line: operator commands (migrate, worker, api, dev, keys, tenants) and a client
over the HTTP API (repos, creds, run, executions, status, events, cancel, approve, artifacts,
webhooks).

Every failure prints one line `builder: <message>` on stderr and exits with a code from
`builder.cli.exits.ExitCode` (docs/cli.md).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn

from builder.cli import operator
from builder.cli.exits import ExitCode, exit_code_table


class CliError(Exception):
    """A one-line, user-facing error; main() prints it and exits with its `code`."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `builder: <what is wrong> (see <prog> --help)`, exit 2.

    Subcommand parsers inherit the class (argparse builds them with the parent's type).
    """

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"builder: {_unechoed(message)} (see `{self.prog} --help`)\n")
        sys.exit(ExitCode.USAGE)


UNRECOGNIZED = "unrecognized arguments: "
# the shape of every option builder has (`--dry-run`); a short `-x...` word may be a value
OPTION_NAME = re.compile(r"--[a-z][a-z0-9-]{0,40}(=|$)")


def _unechoed(message: str) -> str:
    """argparse's `unrecognized arguments: --value=hunter2 hunter2` without the values: an
    argument someone typed by mistake may be a secret (`repos secrets set ... --value=...`),
    and an error line lands in terminals, CI logs and shell scrollback. Long option names stay
    (they say what was wrong); values, short options and stray words become a count."""
    if "ignored explicit argument" in message:  # `-hsecret`: argparse quotes the `secret`
        return message.split(": ignored explicit argument", 1)[0] + ": takes no value"
    if not message.startswith(UNRECOGNIZED):
        return message
    words = message[len(UNRECOGNIZED) :].split()
    named = [w for w in words if OPTION_NAME.match(w)]
    options = [w.split("=", 1)[0] for w in named]
    others = len(words) - len(named) + sum("=" in w for w in named)
    said = ", ".join(options)
    if others:
        said += (", " if said else "") + f"{others} value(s), not repeated"
    return UNRECOGNIZED + said


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("builder")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="builder",
        description="Durable feature branches from feature requests.",
        epilog="exit codes:\n" + exit_code_table() + "\n\nSee docs/cli.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"builder {version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    operator.register(sub)
    from builder.cli import client

    client.register(sub)
    from builder.cli import webhooks

    webhooks.register(sub)
    from builder.cli import tenants

    tenants.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except CliError as err:
        print(f"builder: {err}", file=sys.stderr)
        return err.code
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

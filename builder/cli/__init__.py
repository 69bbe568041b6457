"""`builder` command line: operator commands (migrate, worker, api, dev, keys) and a client
over the HTTP API (repos, creds, run, status, events, cancel, approve, artifacts, webhooks)."""

from __future__ import annotations

import argparse
import sys

from builder.cli import operator


class CliError(Exception):
    """A one-line, user-facing error; main() prints it and exits 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="builder", description="Durable feature branches from feature requests."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    operator.register(sub)
    from builder.cli import client

    client.register(sub)
    from builder.cli import webhooks

    webhooks.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except CliError as err:
        print(f"builder: {err}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

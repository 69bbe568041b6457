"""`builder repos secrets`: a repository's setup-only secrets over the HTTP API.

    printf %s "$TOKEN" | builder repos secrets set myrepo INDEX_TOKEN   # value from stdin
    builder repos secrets set myrepo INDEX_TOKEN                        # prompts (no echo)
    builder repos secrets list myrepo                                   # names, never values
    builder repos secrets delete myrepo INDEX_TOKEN

The value is read from standard input, or asked for without echo when standard input is a
terminal; it is never an argument (so it stays out of shell history and `ps`) and never
printed. Setup receives each secret as the environment variable of its name
(docs/environments.md).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Callable
from typing import IO, Any

from builder.cli.client import ApiClient, emit, find_repository
from builder.cli.http import cli_error

# the API's rule (persistence/setup_secrets.py NAME_PATTERN), checked before the value is
# read and before a name becomes part of a URL path; the API also refuses reserved names
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_VALUE_BYTES = 8192

Adder = Callable[[Any, str, Any, str], argparse.ArgumentParser]


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise cli_error(
            "a setup secret's NAME is an environment variable name: letters, digits and _, "
            "not starting with a digit, at most 100 characters"
        )
    return name


def read_value(name: str, stdin: IO[str], prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The secret's value: asked for without echo on a terminal, else all of stdin (one
    trailing line break dropped). Never empty, at most MAX_VALUE_BYTES."""
    if stdin.isatty():
        value = prompt(f"value of {name} (not echoed): ")
    else:
        value = stdin.read()
        value = value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")
    if not value:
        raise cli_error(f"no value for {name}: pipe it on standard input or type it when asked")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise cli_error(f"the value of {name} is longer than {MAX_VALUE_BYTES} bytes")
    return value


def _base(api: ApiClient, ref: str) -> tuple[dict[str, Any], str]:
    repo = find_repository(api, ref)
    return repo, f"/v1/repositories/{repo['id']}/setup-secrets"


def _set(args: argparse.Namespace, api: ApiClient) -> int:
    if args.stray:
        raise cli_error(
            "a secret's value is never an argument (shell history keeps it): pipe it on "
            "standard input or type it when asked; nothing was stored"
        )
    name = check_name(args.name)
    repo, base = _base(api, args.repo)  # an unknown repository fails before the prompt
    value = read_value(name, sys.stdin)
    out = api.request("PUT", f"{base}/{name}", body={"value": value})
    emit(args, out, lambda s: f"stored setup secret {s['name']} for {repo['name']}")
    return 0


def _list(args: argparse.Namespace, api: ApiClient) -> int:
    repo, base = _base(api, args.repo)
    items = api.request("GET", base)["items"]

    def human(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return f"no setup secrets for {repo['name']}"
        return "\n".join(f"{r['name']}  updated {str(r['updated_at'])[:19]}" for r in rows)

    emit(args, items, human)
    return 0


def _delete(args: argparse.Namespace, api: ApiClient) -> int:
    name = check_name(args.name)
    repo, base = _base(api, args.repo)
    api.request("DELETE", f"{base}/{name}")
    info = {"repository_id": repo["id"], "deleted": name}
    emit(args, info, lambda _: f"deleted setup secret {name} of {repo['name']}")
    return 0


def register(rsub: Any, add: Adder) -> None:
    """Adds `secrets set|list|delete` under `builder repos`."""
    secrets = rsub.add_parser(
        "secrets",
        help="a repository's setup-only secrets (values from stdin or a prompt, never shown)",
        description="A repository's setup-only secrets: setup receives each as the environment "
        "variable of its name; build and test never see them (docs/environments.md).",
    )
    ssub = secrets.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    p = add(ssub, "set", _set, "store (replace) a setup secret; the value comes from stdin "
            "or a prompt without echo, never from an argument")  # fmt: skip
    p.add_argument("repo", metavar="REPO", help="repository id or name")
    p.add_argument("name", metavar="NAME", help="the variable setup receives it as")
    # a value typed as an argument is refused without being repeated back (argparse would
    # print it as an unrecognized argument)
    p.add_argument("stray", nargs="*", help=argparse.SUPPRESS)
    p = add(ssub, "list", _list, "list the names of a repository's setup secrets")
    p.add_argument("repo", metavar="REPO", help="repository id or name")
    p = add(ssub, "delete", _delete, "delete a setup secret")
    p.add_argument("repo", metavar="REPO", help="repository id or name")
    p.add_argument("name", metavar="NAME", help="the secret's name")

"""`builder repos update`: change a repository's default branch, name or state, and merge its
properties (the setup/build/test knobs) over the HTTP API.

    builder repos update myrepo --default-branch develop
    builder repos update myrepo --property test_command='python -m unittest -v'
    builder repos update myrepo --off build          # build_command: null, the build is off
    builder repos update myrepo --unset test_command # back to .builder.yml, then detection

A --property value is read as JSON when it parses (`null`, `true`, `600`, `{"A": "1"}`),
else kept as text; `--property build_command=null` is the same as `--off build`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from builder.cli.client import ApiClient, _repo_line, emit, find_repository, parse_property

PHASES = ("setup", "build", "test")

Adder = Callable[[Any, str, Any, str], argparse.ArgumentParser]


def update_body(args: argparse.Namespace) -> dict[str, Any]:
    """The PATCH body the flags ask for; an error when they ask for nothing."""
    from builder.cli import CliError

    body: dict[str, Any] = {}
    for flag in ("name", "default_branch", "state"):
        if getattr(args, flag, None):
            body[flag] = getattr(args, flag)
    properties = dict(parse_property(p) for p in args.property or [])
    for phase in args.off or []:
        properties[f"{phase}_command"] = None
    if properties:
        body["properties"] = properties
    if args.unset:
        clash = sorted(set(args.unset) & set(properties))
        if clash:
            raise CliError(f"{', '.join(clash)}: set and unset at once")
        body["remove_properties"] = list(dict.fromkeys(args.unset))
    if not body:
        raise CliError(
            "nothing to update: pass --default-branch, --name, --state, --property, --off or "
            "--unset"
        )
    return body


def _update(args: argparse.Namespace, api: ApiClient) -> int:
    body = update_body(args)
    repo = find_repository(api, args.ref)
    updated = api.request("PATCH", f"/v1/repositories/{repo['id']}", body=body)

    def human(r: dict[str, Any]) -> str:
        shown = r.get("properties") or {}
        props = ", ".join(f"{k}={'off' if v is None else v!r}" for k, v in shown.items())
        return f"updated {_repo_line(r)}\n  properties: {props or 'none (detection decides)'}"

    emit(args, updated, human)
    return 0


def register(rsub: Any, add: Adder) -> None:
    """Adds `update` and `secrets` under `builder repos`."""
    from builder.cli import secrets

    secrets.register(rsub, add)
    p = add(rsub, "update", _update, "change a repository's branch, name, state or properties")
    p.add_argument("ref", metavar="ID|NAME", help="repository id or name")
    p.add_argument("--default-branch", help="the branch features start from")
    p.add_argument("--name", help="a new name")
    p.add_argument(
        "--state", choices=("active", "inactive"), help="an inactive repository takes no runs"
    )
    p.add_argument(
        "--property", action="append", metavar="K=V",
        help="merge a property (repeatable): setup_command, build_command, test_command, "
        "setup_allow_network, build_allow_network, test_allow_network, sandbox_allow_network, "
        "setup_timeout_s, build_timeout_s, test_timeout_s, env, toolchain, ignore_paths, "
        "pull_request, forge, forge_api_url, forge_project",
    )  # fmt: skip
    p.add_argument("--off", action="append", choices=PHASES, help="switch a phase off (repeatable)")
    p.add_argument(
        "--unset", action="append", metavar="KEY",
        help="remove a property: back to .builder.yml, then detection (repeatable)",
    )  # fmt: skip

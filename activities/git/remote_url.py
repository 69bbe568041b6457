"""Remote URL policy for the git engine: the rules live in `domain.remote_urls`; this module
applies them with the engine's configuration and the system resolver, and keeps the import
path the engine has always used."""

from __future__ import annotations

import os
import socket

from activities.git.config import GitConfig
from domain.remote_urls import RemoteLocation, RemotePolicy, redact_url
from domain.remote_urls import check_remote_url as _check

__all__ = ["RemoteLocation", "check_remote_url", "policy_of", "redact_url", "system_resolver"]


def system_resolver(host: str) -> list[str]:
    """The addresses `host` resolves to (blocking: call it off the event loop)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):  # UnicodeError: a label IDNA cannot encode
        return []  # unresolvable: the transport will fail on its own
    return [str(info[4][0]) for info in infos]


def policy_of(config: GitConfig) -> RemotePolicy:
    return RemotePolicy(
        allow_local_remotes=config.allow_local_remotes,
        allow_plain_http=config.allow_plain_http,
        denied_hosts=tuple(config.denied_hosts),
    )


def check_remote_url(url: str, config: GitConfig) -> RemoteLocation:
    """Classify `url` or raise PolicyViolation saying which rule it breaks; a local path
    comes back absolute."""
    location = _check(url, policy_of(config), system_resolver)
    if location.local_path is not None:
        return RemoteLocation("local", None, None, local_path=os.path.abspath(location.local_path))
    return location

"""Remote URL policy: which transports and hosts the engine may talk to.

Checked before every network operation, so a registered repository cannot make the worker
run arbitrary commands (`ext::`), read its own disk (`file://`) or reach internal services
(loopback, link-local, cloud metadata) unless the configuration allows it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from activities.git.config import GitConfig
from domain.errors import PolicyViolation

# user@host:path, the scp-like syntax git accepts for ssh; the host part has no slash.
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:\[\]]+|\[[^\]]+\]):(?P<path>.*)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/]*)@")


@dataclass(frozen=True)
class RemoteLocation:
    """What the policy learned about a URL: its transport, host and SSH user."""

    transport: str  # "https", "http", "ssh" or "local"
    host: str | None
    username: str | None
    local_path: str | None = None


def redact_url(url: str) -> str:
    """The URL with any password or token in its user info replaced by ***."""
    match = _USERINFO.match(url)
    if not match:
        return url
    userinfo = match.group("userinfo")
    if ":" in userinfo:
        redacted = userinfo.split(":", 1)[0] + ":***"
    elif match.group("scheme").lower().startswith("http"):
        redacted = "***"  # in an http URL even a lone user name is usually a token
    else:
        return url  # ssh://git@host: the user name is not a secret
    return match.group("scheme") + redacted + "@" + url[match.end() :]


def check_remote_url(url: str, config: GitConfig) -> RemoteLocation:
    """Classify `url` or raise PolicyViolation saying which rule it breaks."""
    shown = redact_url(url)
    if not url or url != url.strip() or any(ord(c) < 32 for c in url):
        raise PolicyViolation(
            f"remote URL {shown!r} is empty or contains whitespace/control characters"
        )
    if "::" in url.split("/", 1)[0] or url.lower().startswith("ext::"):
        raise PolicyViolation(
            f"remote URL {shown!r} uses a transport helper ('<name>::'), which is refused"
        )
    scheme_match = _SCHEME.match(url)
    if scheme_match:
        return _check_scheme_url(url, scheme_match.group("scheme").lower(), shown, config)
    scp = _SCP_LIKE.match(url)
    if scp and not _looks_like_local_path(url):
        host = scp.group("host").strip("[]")
        _check_host(host, shown, config)
        return RemoteLocation("ssh", host, scp.group("user"))
    return _check_local(url, shown, config)


def _check_scheme_url(url: str, scheme: str, shown: str, config: GitConfig) -> RemoteLocation:
    if scheme == "file":
        return _check_local(url, shown, config, path=urlsplit(url).path)
    if scheme not in ("https", "ssh", "http"):
        raise PolicyViolation(
            f"remote URL {shown!r} uses transport {scheme!r}; only https and ssh are allowed"
        )
    if scheme == "http" and not config.allow_plain_http:
        raise PolicyViolation(
            f"remote URL {shown!r} uses plain http; only https and ssh are allowed"
        )
    parts = urlsplit(url)
    if parts.password is not None or (scheme != "ssh" and parts.username is not None):
        raise PolicyViolation(
            f"remote URL {shown!r} embeds credentials; register them as a credential instead"
        )
    host = parts.hostname
    if not host:
        raise PolicyViolation(f"remote URL {shown!r} has no host")
    _check_host(host, shown, config)
    return RemoteLocation("ssh" if scheme == "ssh" else scheme, host, parts.username)


def _looks_like_local_path(url: str) -> bool:
    return url.startswith(("/", "./", "../", "~")) or url.split(":", 1)[0].count("/") > 0


def _check_local(
    url: str, shown: str, config: GitConfig, path: str | None = None
) -> RemoteLocation:
    if not config.allow_local_remotes:
        raise PolicyViolation(
            f"remote URL {shown!r} is a local path; local remotes are not allowed here"
        )
    return RemoteLocation("local", None, None, local_path=os.path.abspath(path or url))


def _check_host(host: str, shown: str, config: GitConfig) -> None:
    if not config.denied_hosts:
        return
    name = host.lower().rstrip(".")
    networks = []
    for entry in config.denied_hosts:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if name == entry.lower().rstrip("."):
                raise PolicyViolation(
                    f"remote URL {shown!r} points at denied host {host!r}"
                ) from None
    for address in _addresses(name):
        for network in networks:
            if address.version == network.version and address in network:
                raise PolicyViolation(
                    f"remote URL {shown!r}: host {host!r} is in denied network {network}"
                )


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    # A name resolving to a denied address is as dangerous as the address itself.
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return []  # unresolvable: the transport will fail on its own
    out = []
    for info in infos:
        try:
            out.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    return out

"""Remote URL policy: which git URLs a repository may have and which transports and hosts the
engine may talk to. Pure: the one lookup that needs the network (what a host name resolves
to) is passed in by the caller (`resolve`), so the API and the worker share these rules.

Checked at registration (API) and before every network operation (worker), so a registered
repository cannot make the worker run arbitrary commands (`ext::`), read its own disk
(`file://`) or reach internal services (loopback, link-local, cloud metadata) unless the
configuration allows it. Credentials never belong in a URL: not as user info, not in the
query (`?token=...`); they are registered as the repository's credential instead.

`url_pattern(policy)` is the syntax these rules accept, as one regular expression for the
OpenAPI document; `url_problem` says which rule a URL breaks (the same language, plus the
denied hosts, which no pattern can know).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from domain.errors import PolicyViolation

Resolver = Callable[[str], Iterable[str]]
"""Addresses a host name resolves to (empty when it does not resolve)."""


def default_denied_hosts() -> tuple[str, ...]:
    """Hosts production must never reach: loopback, link-local and cloud metadata endpoints.

    Entries are host names or IP networks; a host name that resolves into a denied network
    is denied too.
    """
    return (
        "localhost",
        "127.0.0.0/8",
        "::1/128",
        "0.0.0.0/8",
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "metadata.google.internal",
        "metadata.azure.com",
        "metadata",
    )


@dataclass(frozen=True)
class RemotePolicy:
    """Which remotes are accepted: local paths, plain http, and hosts never to reach."""

    allow_local_remotes: bool = False
    allow_plain_http: bool = False
    denied_hosts: tuple[str, ...] = field(default_factory=default_denied_hosts)


@dataclass(frozen=True)
class RemoteLocation:
    """What the policy learned about a URL: its transport, host and SSH user."""

    transport: str  # "https", "http", "ssh" or "local"
    host: str | None
    username: str | None
    local_path: str | None = None


# --- the syntax -------------------------------------------------------------------------

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])"
_PORT = r"(?::[0-9]{1,5})?"
_PCHAR = r"[A-Za-z0-9._~%!$&'()*+,;=:@/-]"  # RFC 3986 pchar and '/', no '?' or '#'
_USER = r"[A-Za-z0-9._~-]+"
_QKEY = r"[A-Za-z0-9._~-]"
_QVALUE = r"[A-Za-z0-9._~%!$'()*+,;=:@/-]"  # no '&' (separator) and no '?'
_QUERY = rf"(?:\?(?:{_QKEY}*(?:={_QVALUE}*)?)(?:&{_QKEY}*(?:={_QVALUE}*)?)*)?"

# a query key containing one of these (any case) holds a secret
SECRET_KEY_WORDS = (
    "token",
    "secret",
    "passw",
    "pwd",
    "auth",
    "credential",
    "key",
    "sig",
    "session",
    "jwt",
    "bearer",
)


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


# a query (after the first '?', which no path character is) with a key holding a secret word
_SECRET_IN_QUERY = (
    rf"[^?]*\?(?:[\s\S]*&)?{_QKEY}*(?:{'|'.join(_any_case(w) for w in SECRET_KEY_WORDS)})"
)


def url_pattern(policy: RemotePolicy) -> str:
    """Every URL syntax `policy` accepts, anchored, for a JSON Schema `pattern`.

    https (and http when allowed) without user info; ssh:// with an optional user; scp-like
    `user@host:path`; and, when local remotes are allowed, `file:///path` and paths starting
    with `/` or `.`. A query may not carry a key that looks like a secret.
    """
    schemes = _any_case("http") + ("[sS]?" if policy.allow_plain_http else "[sS]")
    forms = [
        rf"{schemes}://{_HOST}{_PORT}(?:/{_PCHAR}*)?{_QUERY}",
        rf"{_any_case('ssh')}://(?:{_USER}@)?{_HOST}{_PORT}(?:/{_PCHAR}*)?",
        rf"(?:{_USER}@)?{_HOST}:(?!//){_PCHAR}*",
    ]
    if policy.allow_local_remotes:
        forms += [rf"{_any_case('file')}:///{_PCHAR}*", rf"[/.]{_PCHAR}*"]
    # no transport helper ('<name>::' before the first '/'), no secret in the query
    return rf"^(?![^/]*::)(?!{_SECRET_IN_QUERY})(?:{'|'.join(forms)})$"


_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:\[\]]+|\[[^\]]+\]):(?P<path>.*)$")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^@/]*)@")
_QUERY_SECRET = re.compile(_SECRET_IN_QUERY)


def redact_url(url: str) -> str:
    """The URL with any password or token in its user info or query replaced by ***."""
    match = _USERINFO.match(url)
    out = url
    if match:
        userinfo = match.group("userinfo")
        if ":" in userinfo:
            redacted = userinfo.split(":", 1)[0] + ":***"
        elif match.group("scheme").lower().startswith("http"):
            redacted = "***"  # in an http URL even a lone user name is usually a token
        else:
            redacted = userinfo  # ssh://git@host: the user name is not a secret
        out = match.group("scheme") + redacted + "@" + url[match.end() :]
    if "?" in out:
        base, _, query = out.partition("?")
        parts = []
        for part in query.split("&"):
            key, sep, _value = part.partition("=")
            secret = any(word in key.lower() for word in SECRET_KEY_WORDS)
            parts.append(f"{key}=***" if secret and sep else part)
        out = base + "?" + "&".join(parts)
    return out


def url_problem(url: str, policy: RemotePolicy, resolve: Resolver | None = None) -> str | None:
    """Which rule `url` breaks, in words that never repeat the URL; None when accepted.

    `resolve` looks up host names for the denied-hosts rule; without it only literal
    addresses and listed names are denied.
    """
    try:
        check_remote_url(url, policy, resolve)
    except PolicyViolation as violation:
        return violation.message
    return None


def check_remote_url(
    url: str, policy: RemotePolicy, resolve: Resolver | None = None
) -> RemoteLocation:
    """Classify `url` or raise PolicyViolation saying which rule it breaks."""
    if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 0x7F for c in url):
        raise PolicyViolation("the remote URL is empty or contains whitespace/control characters")
    if "::" in url.split("/", 1)[0] or url.lower().startswith("ext::"):
        raise PolicyViolation("the remote URL uses a transport helper ('<name>::'), refused")
    if _QUERY_SECRET.match(url):
        raise PolicyViolation(
            "the remote URL carries a credential in its query; register it as the "
            "repository's credential instead"
        )
    scheme_match = _SCHEME.match(url)
    if scheme_match:
        location = _scheme_url(url, scheme_match.group("scheme").lower(), policy)
    else:
        scp = _SCP_LIKE.match(url)
        if scp and not _looks_like_local_path(url):
            location = RemoteLocation("ssh", scp.group("host").strip("[]"), scp.group("user"))
        else:
            location = _local(url, policy)
    if not re.match(url_pattern(policy), url):
        raise PolicyViolation(
            "the remote URL is not a git URL this server accepts: https://host/path, "
            "ssh://[user@]host/path or user@host:path"
            + (", file:///path or a local path" if policy.allow_local_remotes else "")
        )
    if location.host is not None:
        _check_host(location.host, policy, resolve)
    return location


def _scheme_url(url: str, scheme: str, policy: RemotePolicy) -> RemoteLocation:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        username, password = parts.username, parts.password
    except ValueError:
        raise PolicyViolation("the remote URL does not parse") from None
    if scheme == "file":
        return _local(url, policy, path=parts.path)
    if scheme not in ("https", "ssh", "http"):
        raise PolicyViolation(
            "the remote URL uses a transport other than https and ssh, which is refused"
        )
    if scheme == "http" and not policy.allow_plain_http:
        raise PolicyViolation("the remote URL uses plain http; only https and ssh are allowed")
    if password is not None or (scheme != "ssh" and username is not None):
        raise PolicyViolation(
            "the remote URL embeds credentials; register them as a credential instead"
        )
    if not host:
        raise PolicyViolation("the remote URL has no host")
    return RemoteLocation("ssh" if scheme == "ssh" else scheme, host, username)


def _looks_like_local_path(url: str) -> bool:
    return url.startswith(("/", ".", "~")) or url.split(":", 1)[0].count("/") > 0


def _local(url: str, policy: RemotePolicy, path: str | None = None) -> RemoteLocation:
    if not policy.allow_local_remotes:
        raise PolicyViolation("the remote URL is a local path; local remotes are not allowed here")
    return RemoteLocation("local", None, None, local_path=path or url)


def _check_host(host: str, policy: RemotePolicy, resolve: Resolver | None) -> None:
    if not policy.denied_hosts:
        return
    name = host.lower().rstrip(".")
    networks = []
    for entry in policy.denied_hosts:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if name == entry.lower().rstrip("."):
                raise PolicyViolation("the remote URL points at a denied host") from None
    for address in _addresses(name, resolve):
        for network in networks:
            if address.version == network.version and address in network:
                raise PolicyViolation(
                    f"the remote URL's host is in denied network {network}"
                ) from None


def _addresses(
    host: str, resolve: Resolver | None
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    # a name resolving to a denied address is as dangerous as the address itself
    out = []
    for text in resolve(host) if resolve is not None else ():
        try:
            out.append(ipaddress.ip_address(str(text).split("%", 1)[0]))
        except ValueError:
            continue
    return out

"""Where webhooks may go: no loopback, private, link-local or metadata addresses unless the
deployment allows them (dev does), checked when subscribing and again, with a fresh DNS
answer, before every delivery; the connection then goes to the address that was checked,
so a name cannot be re-pointed between the check and the request (DNS rebinding)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from domain.errors import PolicyViolation
from domain.remote_urls import default_denied_hosts

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _denied_names() -> tuple[str, ...]:
    """The host names (not networks) git remotes may not use either: localhost, metadata."""
    names = []
    for entry in default_denied_hosts():
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            names.append(entry.lower())
    return tuple(names)


@dataclass(frozen=True)
class DestinationPolicy:
    """Which webhook URLs are acceptable."""

    allow_private: bool = False
    allow_http: bool = True
    # names refused whatever they resolve to
    denied_names: tuple[str, ...] = field(default_factory=_denied_names)


@dataclass(frozen=True)
class Destination:
    """A checked URL and the address to connect to."""

    url: str
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (Host header and TLS name
        stay the original host)."""
        parts = urlsplit(self.url)
        ip = ipaddress.ip_address(self.address)
        literal = f"[{self.address}]" if ip.version == 6 else self.address
        netloc = f"{literal}:{self.port}"
        return parts._replace(netloc=netloc).geturl()

    @property
    def host_header(self) -> str:
        parts = urlsplit(self.url)
        default = 443 if parts.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _refused(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for flag, name in (
        (address.is_unspecified, "unspecified"),
        (address.is_loopback, "loopback"),
        (address.is_link_local, "link-local"),
        (address.is_private, "private"),
        (address.is_reserved, "reserved"),
        (address.is_multicast, "multicast"),
    ):
        if flag:
            return name
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network(
        "100.64.0.0/10"
    ):
        return "shared (carrier-grade NAT)"
    return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # UnicodeError: a label IDNA cannot encode
        return []
    out: list[IPAddress] = []
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            continue
        if address not in out:
            out.append(address)
    return out


def check_destination(url: str, policy: DestinationPolicy, *, resolve: bool = True) -> Destination:
    """The destination of `url`, or PolicyViolation saying why it is refused. Blocking (DNS):
    call it in a thread. Without `resolve`, an unresolvable name is accepted (subscribing to
    a name that does not resolve yet is allowed; delivery checks again)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        raise PolicyViolation("the webhook URL cannot be parsed") from None
    if parts.scheme not in ("https", "http") or not host:
        raise PolicyViolation("a webhook URL must be an absolute http or https URL")
    if parts.scheme == "http" and not policy.allow_http:
        raise PolicyViolation("webhook URLs must use https here; plain http is refused")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise PolicyViolation("the webhook URL has an invalid port") from None
    if not policy.allow_private and host in policy.denied_names:
        raise PolicyViolation(
            f"webhook host {host!r} is refused (loopback or metadata service); only public "
            "addresses can receive webhooks here"
        )
    addresses = _resolve(host, port)
    if not addresses:
        if resolve:
            raise PolicyViolation(f"webhook host {host!r} does not resolve")
        return Destination(url, host, port, host)
    if not policy.allow_private:
        for address in addresses:
            why = _refused(address)
            if why:
                raise PolicyViolation(
                    f"webhook host {host!r} resolves to {why} address {address}; only public "
                    "addresses can receive webhooks here"
                )
    return Destination(url, host, port, str(addresses[0]))

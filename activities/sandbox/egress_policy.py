"""What setup's egress may reach: allowed hosts and ports, and the addresses never
connected to (loopback, link-local, private, shared, multicast, reserved, unspecified and
the worker's own), whatever a name resolves to."""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_ALLOWED_HOSTS: tuple[str, ...] = (
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "crates.io",
    "index.crates.io",
    "static.crates.io",
    "proxy.golang.org",
    "sum.golang.org",
)
DEFAULT_PORTS: tuple[int, ...] = (443, 80)
# The system's trust store (the sandbox sees /etc/ssl/certs): pip, npm and cargo otherwise
# trust only the roots they bundle, and an operator's TLS-inspecting egress or private
# index has its own CA there.
CA_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

DENIED_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # this network, unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (CGNAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata services live here)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.168.0.0/16",  # private
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)


def system_ca_bundle() -> str | None:
    return next((b for b in CA_BUNDLES if os.path.isfile(b)), None)


def local_addresses() -> set[Address]:
    """The worker's own interface addresses (a service listening on 0.0.0.0 is there)."""
    found: set[Address] = set()
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            packed = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):
                answer = fcntl.ioctl(sock.fileno(), 0x8915, packed)  # SIOCGIFADDR
                found.add(ipaddress.IPv4Address(answer[20:24]))
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as table:
        for line in table:
            raw = line.split()[0]
            found.add(ipaddress.IPv6Address(int(raw, 16)))
    return found


def address_problem(address: Address, local: Iterable[Address] = ()) -> str | None:
    """Why the proxy must not connect to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return address_problem(mapped, local)
        if address in ipaddress.ip_network("64:ff9b::/96"):
            return address_problem(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), local)
    for network in DENIED_NETWORKS:
        if address.version == network.version and address in network:
            kind = (
                "loopback" if address.is_loopback
                else "link-local" if address.is_link_local
                else "multicast" if address.is_multicast
                else "a private or reserved"
            )  # fmt: skip
            return f"{kind} address ({network})"
    if address in set(local):
        return "an address of the worker itself"
    return None


@dataclass(frozen=True)
class EgressPolicy:
    """Which hosts and ports setup may reach; names match exactly or as `*.suffix`."""

    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    allowed_ports: tuple[int, ...] = DEFAULT_PORTS

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.allowed_hosts:
            pattern = pattern.lower().rstrip(".")
            if pattern.startswith("*.") and host.endswith(pattern[1:]):
                return True
            if host == pattern:
                return True
        return False

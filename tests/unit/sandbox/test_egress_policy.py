"""The egress proxy's rules: which names, ports and addresses setup may reach."""

from __future__ import annotations

import ipaddress

import pytest

from activities.sandbox.egress import _Refused, _target
from activities.sandbox.egress_policy import EgressPolicy, address_problem


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
     "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
     "::1", "::", "fc00::1", "fd12::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
     "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:7f00:1::"],
)  # fmt: skip
def test_internal_addresses_are_refused(address: str) -> None:
    assert address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["151.101.0.223", "203.0.113.80", "2a04:4e42::223"])
def test_public_addresses_are_allowed_unless_they_are_the_worker_s(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert address_problem(ip) is None
    assert address_problem(ip, {ip}) == "an address of the worker itself"


def test_hosts_match_exactly_or_by_wildcard_suffix() -> None:
    policy = EgressPolicy(allowed_hosts=("pypi.org", "*.example.org"))
    assert policy.host_allowed("PyPI.org.") and policy.host_allowed("a.b.example.org")
    assert not policy.host_allowed("evilpypi.org")
    assert not policy.host_allowed("pypi.org.evil.test")
    assert not policy.host_allowed("example.org.evil.test")


def test_plain_requests_are_rewritten_to_origin_form_without_proxy_headers() -> None:
    host, port, head = _target(
        "GET", "http://index.test:8080/simple/six/", "HTTP/1.1",
        ["Host: index.test:8080", "Proxy-Authorization: Basic eA==", "Accept: */*"],
    )  # fmt: skip
    assert (host, port) == ("index.test", 8080)
    assert head is not None and head.startswith(b"GET /simple/six/ HTTP/1.1\r\n")
    assert b"Proxy-Authorization" not in head and head.endswith(b"Connection: close\r\n\r\n")
    assert _target("CONNECT", "[::1]:443", "HTTP/1.1", [])[:2] == ("::1", 443)
    for bad in ("ftp://x/", "http://user:pw@x/"):
        with pytest.raises(_Refused):
            _target("GET", bad, "HTTP/1.1", [])

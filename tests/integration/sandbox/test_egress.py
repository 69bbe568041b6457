"""Setup's network: a hostile setup command reaches neither the worker's services on loopback
nor its own address nor a private one, directly or through the egress proxy, while the same
command installs from the package registry through the proxy."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.sandbox import BuildPhaseFailed, SandboxRunner, run_phase
from activities.sandbox.egress import EgressPolicy, EgressProxy, local_addresses

HOSTILE = r"""
import http.client, os, socket, sys
port, own = int(sys.argv[1]), sys.argv[2]

def direct(host, p):
    try:
        socket.create_connection((host, p), timeout=3).close()
        return "connected"
    except OSError as exc:
        return f"failed {exc.__class__.__name__}"

def tunnel(host, p):
    conn = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
    conn.request("CONNECT", f"{host}:{p}")
    return str(conn.getresponse().status)

def plain(url):
    conn = http.client.HTTPConnection("127.0.0.1", 3128, timeout=10)
    conn.request("GET", url)
    return str(conn.getresponse().status)

for name, result in [
    ("direct postgres", direct("127.0.0.1", 5432)),
    ("direct api", direct("127.0.0.1", port)),
    ("direct own address", direct(own, port)),
    ("proxy postgres", tunnel("127.0.0.1", 5432)),
    ("proxy temporal", tunnel("localhost", 7233)),
    ("proxy api", tunnel("127.0.0.1", port)),
    ("proxy own address", tunnel(own, 443)),
    ("proxy private", tunnel("10.20.30.40", 443)),
    ("proxy metadata", plain("http://169.254.169.254/latest/meta-data/")),
    ("proxy plain api", plain(f"http://127.0.0.1:{port}/")),
    ("proxy other host", tunnel("example.com", 443)),
]:
    print(f"{name}: {result}", flush=True)
"""


@pytest.fixture
def service() -> Iterator[tuple[int, list[object]]]:
    """A listener on every worker address standing in for the API; records connections."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    seen: list[object] = []

    def accept() -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            seen.append(peer)
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], seen
    server.close()


def _own_address() -> str:
    own = [
        a for a in local_addresses()
        if a.version == 4 and not a.is_loopback and not a.is_link_local
    ]  # fmt: skip
    assert own, "the worker has no non-loopback IPv4 address to test against"
    return str(own[0])


def test_a_hostile_setup_reaches_only_the_registry(
    runner: SandboxRunner, worktree: Path, service: tuple[int, list[object]]
) -> None:
    port, seen = service
    own = _own_address()
    # the targets are real: the worker itself reaches each of them
    for host, target in (("127.0.0.1", 5432), ("127.0.0.1", port), (own, port)):
        socket.create_connection((host, target), timeout=3).close()
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(seen) == 2
    seen.clear()
    (worktree / "hostile.py").write_text(HOSTILE)
    script = (
        f"{sys.executable} hostile.py {port} {own}\n"
        f"{sys.executable} -m pip download --no-deps --no-cache-dir -q -d /tmp/dl six==1.16.0\n"
        "ls /tmp/dl\n"
    )

    result = run_phase(
        "setup", script, worktree, required=True, timeout_s=180, runner=runner,
        egress=EgressPolicy(),
    )  # fmt: skip

    lines = dict(
        line.split(": ", 1)
        for line in result.log.splitlines()
        if line.startswith(("direct", "proxy"))
    )
    assert lines["direct postgres"].startswith("failed")
    assert lines["direct api"].startswith("failed")
    assert lines["direct own address"].startswith("failed")
    for name in ("postgres", "temporal", "api", "own address", "private", "metadata",
                 "plain api", "other host"):  # fmt: skip
        assert lines[f"proxy {name}"] == "403", (name, result.log)
    assert "six-1.16.0-py2.py3-none-any.whl" in result.log  # the allowed route works
    assert seen == []  # nothing reached the stand-in service
    assert "[egress] allowed files.pythonhosted.org:443" in result.log
    assert "[egress] refused 10.20.30.40:443" in result.log


def test_an_allowed_name_that_resolves_to_a_refused_address_is_not_connected(
    service: tuple[int, list[object]],
) -> None:
    port, seen = service
    own = _own_address()
    answers = {"rebind.test": ["127.0.0.1"], "mixed.test": ["10.0.0.7", "::1", own]}

    async def resolver(host: str, _port: int) -> list[str]:
        return answers[host]

    with tempfile.TemporaryDirectory(prefix="egress-") as tmp:
        path = Path(tmp) / "proxy.sock"
        proxy = EgressProxy(
            EgressPolicy(allowed_hosts=("*.test",), allowed_ports=(port,)), path,
            resolver=resolver,
        ).start()  # fmt: skip
        try:
            statuses = [asyncio.run(_connect(path, f"{h}:{port}")) for h in answers]
        finally:
            proxy.stop()
    assert statuses == ["403", "403"]
    assert seen == []
    assert [d.allowed for d in proxy.decisions] == [False, False]
    assert "loopback" in proxy.decisions[0].reason
    assert ipaddress.ip_address(own) in proxy.local


async def _connect(path: Path, target: str) -> str:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    await writer.drain()
    status = (await reader.readline()).decode().split(" ")[1]
    writer.close()
    return status


def test_a_setup_that_fails_on_a_refused_host_says_which_and_what_allows_it(
    runner: SandboxRunner, worktree: Path
) -> None:
    fetch = (
        f'{sys.executable} -c "import urllib.request; '
        "urllib.request.urlopen('https://example.com/x', timeout=10)\""
    )
    with pytest.raises(BuildPhaseFailed) as failed:
        run_phase("setup", fetch, worktree, required=True, timeout_s=60, runner=runner,
                  egress=EgressPolicy())  # fmt: skip
    message = str(failed.value)
    assert "egress proxy refused example.com:443" in message
    assert "setup_allowed_hosts" in message
    assert failed.value.details["egress_refused"] == ["example.com:443"]

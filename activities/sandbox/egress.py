"""Setup's egress: an HTTP proxy on a unix socket that reaches allow-listed hosts only.

A setup command runs without the worker's network (its own network namespace: loopback and
nothing else). Its one way out is this proxy, reached through the unix socket bind-mounted
into the sandbox and a forwarder listening on the sandbox's own 127.0.0.1
(tools/egress_forwarder.py); HTTPS_PROXY and friends point the package managers at it.

For each request (`CONNECT host:port` for TLS, an absolute-form `GET http://...` for plain
HTTP) the proxy checks the host against the allow-list and the port against the allowed
ports, resolves the name itself (the sandbox has no resolver of its own) and connects only
to an address that is not loopback, link-local, private, shared (CGNAT), multicast,
reserved, unspecified or one of the worker's own interface addresses. The address it
checked is the one it connects to, so a name that resolves differently a second later
(DNS rebinding) cannot slip through. Every decision is kept for the phase's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from activities.sandbox import filesystem as fs
from activities.sandbox.egress_policy import (
    DEFAULT_ALLOWED_HOSTS,
    Address,
    EgressPolicy,
    address_problem,
    local_addresses,
    system_ca_bundle,
)

__all__ = [
    "DEFAULT_ALLOWED_HOSTS",
    "EgressPolicy",
    "EgressProxy",
    "EgressSession",
    "address_problem",
    "local_addresses",
    "start_egress",
    "system_ca_bundle",
]

MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 64
CONNECT_TIMEOUT_S = 15.0
IDLE_TIMEOUT_S = 120.0
MAX_DECISIONS = 200
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass
class Decision:
    """One request the proxy answered (for the phase's log)."""

    host: str
    port: int
    allowed: bool
    reason: str

    def line(self) -> str:
        verdict = "allowed" if self.allowed else "refused"
        return f"[egress] {verdict} {self.host}:{self.port}: {self.reason}"


class _Refused(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class EgressProxy:
    """The proxy of one run: serves `socket_path` from its own thread until stopped."""

    def __init__(
        self,
        policy: EgressPolicy,
        socket_path: Path,
        *,
        resolver: Resolver = _system_resolver,
        local: set[Address] | None = None,
    ) -> None:
        self.policy = policy
        self.socket_path = socket_path
        self.resolver = resolver
        self.local = local_addresses() if local is None else local
        self.decisions: list[Decision] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> EgressProxy:
        self._thread = threading.Thread(target=self._main, name="egress-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(5)

    def log_lines(self) -> list[str]:
        return [d.line() for d in self.decisions]

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        slots = asyncio.Semaphore(MAX_CONNECTIONS)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async with slots:
                try:
                    await self._proxy(reader, writer)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    pass
                except asyncio.LimitOverrunError:
                    pass
                finally:
                    writer.close()

        server = await asyncio.start_unix_server(
            handle, path=str(self.socket_path), limit=MAX_HEADER_BYTES
        )
        os.chmod(self.socket_path, 0o600)
        self._ready.set()
        async with server:
            await self._stopping.wait()
            server.close()

    def _decide(self, host: str, port: int, allowed: bool, reason: str) -> None:
        if len(self.decisions) < MAX_DECISIONS:
            self.decisions.append(Decision(host, port, allowed, reason))

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT_S)
        request_line, *headers = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            return await _answer(writer, "400 Bad Request", "not an HTTP request")
        method, target, version = parts
        try:
            host, port, forward = _target(method, target, version, headers)
            up_reader, up_writer = await self._open(host, port)
        except _Refused as refused:
            return await _answer(writer, refused.status, refused.reason)
        try:
            if forward is None:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                up_writer.write(forward)
                await up_writer.drain()
            await _relay_both(reader, writer, up_reader, up_writer)
        finally:
            up_writer.close()

    async def _open(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if port not in self.policy.allowed_ports:
            self._decide(host, port, False, f"port {port} is not allowed")
            raise _Refused("403 Forbidden", f"port {port} is not allowed")
        if not self.policy.host_allowed(host):
            self._decide(host, port, False, "host is not on the allow-list")
            raise _Refused("403 Forbidden", f"{host} is not on setup's egress allow-list")
        try:
            candidates: list[Address] = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                resolved = await asyncio.wait_for(self.resolver(host, port), CONNECT_TIMEOUT_S)
                candidates = [ipaddress.ip_address(a.split("%")[0]) for a in resolved]
            except (TimeoutError, OSError, ValueError) as exc:
                self._decide(host, port, False, f"does not resolve ({exc})")
                raise _Refused("502 Bad Gateway", f"{host} does not resolve") from None
        problems = [(a, address_problem(a, self.local)) for a in candidates]
        usable = [a for a, problem in problems if problem is None]
        if not usable:
            first = next((p for _, p in problems if p), "no address")
            reason = f"resolves only to refused addresses: {first}"
            self._decide(host, port, False, reason)
            raise _Refused("403 Forbidden", f"{host} {reason}")
        failure = ""
        for address in list(dict.fromkeys(usable))[:4]:  # each checked address, in order
            try:
                opened = await asyncio.wait_for(
                    asyncio.open_connection(str(address), port), CONNECT_TIMEOUT_S
                )
            except (TimeoutError, OSError) as exc:
                failure = f"connecting to {address} failed ({exc.__class__.__name__})"
                continue
            self._decide(host, port, True, f"connected to {address}")
            return opened
        self._decide(host, port, False, failure)
        raise _Refused("502 Bad Gateway", f"cannot connect to {host}")


def _target(
    method: str, target: str, version: str, headers: list[str]
) -> tuple[str, int, bytes | None]:
    """(host, port, bytes to send upstream first: None for a tunnel)."""
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise _Refused("400 Bad Request", "CONNECT needs host:port")
        return host, int(port), None
    if not target.startswith("http://"):
        raise _Refused("400 Bad Request", "only CONNECT and absolute http:// requests")
    rest = target[len("http://") :]
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise _Refused("400 Bad Request", "credentials in the URL are not forwarded")
    host, _, port = authority.rpartition(":") if ":" in authority.lstrip("[").split("]")[-1] \
        else (authority, "", "80")  # fmt: skip
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise _Refused("400 Bad Request", "bad URL authority")
    kept = [h for h in headers if h and not h.lower().startswith(("proxy-", "connection:"))]
    head = f"{method} {slash}{path} {version}\r\n" + "".join(f"{h}\r\n" for h in kept)
    return host, int(port), (head + "Connection: close\r\n\r\n").encode("latin-1")


async def _relay_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    """Bytes both ways until both sides are done or nothing moved for IDLE_TIMEOUT_S."""
    loop = asyncio.get_running_loop()
    last = [loop.time()]

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                last[0] = loop.time()
                dst.write(data)
                await dst.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if dst.can_write_eof():
                    dst.write_eof()

    both = asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
    while not both.done():
        await asyncio.wait([both], timeout=5)
        if loop.time() - last[0] > IDLE_TIMEOUT_S:
            both.cancel()
            break
    with contextlib.suppress(asyncio.CancelledError):
        await both


async def _answer(writer: asyncio.StreamWriter, status: str, reason: str) -> None:
    body = f"builder egress proxy: {reason}\n".encode()
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()


# -- one run's egress ---------------------------------------------------------------------

EGRESS_DIR = fs.EGRESS
FORWARDER_PORT = 3128
_FORWARDER = Path(__file__).parent / "tools" / "egress_forwarder.py"


@dataclass
class EgressSession:
    """A started proxy, the directory to show at EGRESS_DIR, and how to run through it."""

    proxy: EgressProxy
    directory: Path
    interpreter: str

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` started by the forwarder, which listens on the sandbox's own loopback."""
        return [
            self.interpreter, "-I", f"{EGRESS_DIR}/forwarder.py", f"{EGRESS_DIR}/proxy.sock",
            str(FORWARDER_PORT), "--", *argv,
        ]  # fmt: skip

    @staticmethod
    def variables() -> dict[str, str]:
        url = f"http://127.0.0.1:{FORWARDER_PORT}"
        variables = {
            "HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url,
            "npm_config_proxy": url, "npm_config_https_proxy": url, "NO_PROXY": "",
            "no_proxy": "",
        }  # fmt: skip
        bundle = system_ca_bundle()
        if bundle is not None:
            for name in ("PIP_CERT", "NODE_EXTRA_CA_CERTS", "CARGO_HTTP_CAINFO", "SSL_CERT_FILE"):
                variables[name] = bundle
        return variables

    def stop(self) -> list[str]:
        """Stop the proxy; its decisions as log lines."""
        self.proxy.stop()
        return self.proxy.log_lines()


def start_egress(policy: EgressPolicy, scratch: Path, interpreter: str) -> EgressSession:
    """The proxy of one run, serving a socket in `scratch/egress` next to the forwarder."""
    directory = scratch / "egress"
    directory.mkdir(mode=0o700)
    (directory / "forwarder.py").write_bytes(_FORWARDER.read_bytes())
    proxy = EgressProxy(policy, directory / "proxy.sock").start()
    return EgressSession(proxy, directory, interpreter)

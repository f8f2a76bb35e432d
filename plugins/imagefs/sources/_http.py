"""HTTP transport of the registry source (private): connections, timeouts, retry policy.

Built on the standard library's :mod:`http.client` on purpose: the registry protocol needs
exact control over what a library usually hides — which host receives ``Authorization``
on a redirect, how many bytes of a body are read, how a dropped connection is resumed —
and a dependency-free transport keeps ``imagefs`` installable anywhere.

- :class:`Timeouts`: ``connect`` (TCP + TLS handshake), ``idle`` (longest silence while
  reading or writing), ``total`` (a whole request, its body and its retries).
- :class:`RetryPolicy`: exponential backoff with jitter; ``Retry-After`` honoured up to a cap.
- :class:`Transport`: a small thread-safe keep-alive pool per origin; one exchange at a time.
- Plain HTTP only for loopback hosts, explicitly insecure registries or ``tls_verify=False``.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import logging
import random
import ssl
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import urlsplit

from ..errors import RegistryError
from ._auth import RedactingFilter, redact

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

#: Errors that mean "the connection broke": the request may be retried.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionResetError, BrokenPipeError, socket.timeout (TimeoutError), ssl.SSLError
    http.client.HTTPException,  # RemoteDisconnected, IncompleteRead, BadStatusLine
)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 30.0
    idle: float = 60.0
    total: float = 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries in all, the first included
    base: float = 0.5  # first backoff, doubled each time
    cap: float = 30.0  # longest backoff
    retry_after_cap: float = 60.0  # longest wait a Retry-After header can impose

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.retry_after_cap))
        d = min(self.cap, self.base * (2**attempt))
        return random.uniform(
            d / 2, d
        )  # "equal jitter": never zero, never synchronised


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After``: delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise RegistryError(f"not an http(s) URL: {safe_url(url)}")
        try:
            port = u.port or (443 if u.scheme == "https" else 80)
        except ValueError as err:
            raise RegistryError(f"bad port in URL {safe_url(url)}") from err
        return cls(u.scheme, u.hostname.lower(), port)


def safe_url(url: str) -> str:
    """A URL fit for a message: no user info, no query (signed CDN URLs carry secrets there)."""
    u = urlsplit(url)
    host = u.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{u.port}" if u.port else ""
    except ValueError:
        port = ""
    return redact(f"{u.scheme}://{host}{port}{u.path}" + ("?…" if u.query else ""))


def split_hostport(hostport: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[::1]:5000`` → (host, port)."""
    hp = hostport.strip().lower()
    if hp.startswith("["):
        host, _, rest = hp[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[
            1:
        ].isdigit() else None
    if hp.count(":") == 1:
        host, _, port = hp.partition(":")
        return host, int(port) if port.isdigit() else None
    return hp, None


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.0.0.0/8`` and ``::1`` (with or without brackets/port)."""
    h, _ = split_hostport(host)
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def insecure_allowed(
    registry: str,
    insecure_registries: tuple[str, ...] | list[str] = (),
    tls_verify: bool = True,
) -> bool:
    """Whether ``registry`` (``host[:port]``) may be reached over plain HTTP or unverified TLS.

    As skopeo and Docker do: loopback registries, registries named with
    ``--insecure-registry HOST[:PORT]``, or everything when ``--tls-verify=false``.
    """
    if not tls_verify or is_loopback(registry):
        return True
    host, port = split_hostport(registry)
    for entry in insecure_registries:
        eh, ep = split_hostport(entry)
        if eh == host and (ep is None or ep == port):
            return True
    return False


class Exchange:
    """One HTTP response being read, holding its connection until closed."""

    def __init__(
        self,
        transport: Transport,
        origin: Origin,
        conn: http.client.HTTPConnection,
        resp: http.client.HTTPResponse,
        url: str,
        deadline: float,
    ):
        self.transport = transport
        self.origin = origin
        self.conn = conn
        self.resp = resp
        self.url = url
        self.deadline = deadline
        self.status = resp.status
        self.headers = resp.headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def content_length(self) -> int | None:
        v = self.headers.get("Content-Length")
        if v is None:
            return None
        v = v.strip()
        if not v.isdigit():
            raise RegistryError(
                f"{safe_url(self.url)}: invalid Content-Length {v[:40]!r}"
            )
        return int(v)

    def _tick(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{safe_url(self.url)}: total timeout reached")
        sock = self.conn.sock
        if sock is not None:
            sock.settimeout(min(self.transport.timeouts.idle, remaining))

    def read(self, n: int) -> bytes:
        self._tick()
        return self.resp.read(n)

    def read1(self, n: int) -> bytes:
        """At most ``n`` bytes, from at most one socket read: what arrived before a break
        is returned, not lost inside a buffered read that waits to fill its buffer."""
        self._tick()
        return self.resp.read1(n)

    def read_capped(self, cap: int, what: str, *, exact: bool = False) -> bytes:
        """The whole body, refusing (without reading on) one longer than ``cap`` bytes.

        ``exact``: ``cap`` is the descriptor's size, so a longer body is a lie, not a big document.
        """
        length = self.content_length()
        if length is not None and length > cap:
            if exact:
                raise RegistryError(
                    f"{what}: the registry announces {length} bytes where the descriptor says {cap}"
                )
            raise RegistryError(
                f"{what}: the registry announces {length} bytes, over the {cap}-byte cap"
            )
        chunks, total = [], 0
        while True:
            chunk = self.read(min(65536, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                if exact:
                    raise RegistryError(
                        f"{what}: the registry sends more than the descriptor's {cap} bytes"
                    )
                raise RegistryError(f"{what}: the body is over the {cap}-byte cap")
        return b"".join(chunks)

    def drain(self, limit: int = 65536) -> None:
        """Read a small leftover body so the connection can be reused; else it is dropped."""
        try:
            if self.resp.length is not None and self.resp.length <= limit:
                self._tick()
                self.resp.read()
        except (RegistryError, *NETWORK_ERRORS):
            pass

    def close(self) -> None:
        reusable = self.resp.isclosed() and not self.resp.will_close
        try:
            self.resp.close()
        finally:
            self.transport.release(self.origin, self.conn, reusable)


class Transport:
    """Keep-alive connections per origin; thread safe (each exchange has its own connection)."""

    MAX_IDLE_PER_ORIGIN = 8

    def __init__(
        self, timeouts: Timeouts, *, verify_tls: dict[str, bool] | None = None
    ):
        self.timeouts = timeouts
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._verify = verify_tls or {}  # host -> verify certificates?
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def _context(self, verify: bool) -> ssl.SSLContext:
        with self._lock:
            ctx = self._contexts.get(verify)
            if ctx is None:
                ctx = ssl.create_default_context()
                if not verify:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                self._contexts[verify] = ctx
            return ctx

    def set_verify(self, host: str, verify: bool) -> None:
        self._verify[host.lower()] = verify

    def _new_conn(self, origin: Origin) -> http.client.HTTPConnection:
        if origin.scheme == "https":
            verify = self._verify.get(origin.host, True)
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                origin.host,
                origin.port,
                timeout=self.timeouts.connect,
                context=self._context(verify),
            )
        else:
            conn = http.client.HTTPConnection(
                origin.host, origin.port, timeout=self.timeouts.connect
            )
        return conn

    def exchange(
        self, method: str, url: str, headers: dict[str, str], deadline: float
    ) -> Exchange:
        """Send one request and read the status line and headers (no redirects, no retries)."""
        origin = Origin.of(url)
        u = urlsplit(url)
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        for fresh in (False, True):
            conn, reused = self._take(origin, fresh)
            try:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{safe_url(url)}: total timeout reached")
                if conn.sock is None:
                    conn.timeout = min(self.timeouts.connect, remaining)
                    conn.connect()
                conn.sock.settimeout(min(self.timeouts.idle, remaining))
                conn.request(method, target, headers=headers)
                resp = conn.getresponse()
            except NETWORK_ERRORS:
                conn.close()
                if reused and not fresh:
                    continue  # a keep-alive connection the server had closed: one fresh try
                raise
            return Exchange(self, origin, conn, resp, url, deadline)
        raise AssertionError("unreachable")

    def _take(
        self, origin: Origin, fresh: bool
    ) -> tuple[http.client.HTTPConnection, bool]:
        if not fresh:
            with self._lock:
                idle = self._idle.get(origin)
                if idle:
                    return idle.pop(), True
        return self._new_conn(origin), False

    def release(
        self, origin: Origin, conn: http.client.HTTPConnection, reusable: bool
    ) -> None:
        if reusable and conn.sock is not None:
            with self._lock:
                idle = self._idle.setdefault(origin, [])
                if len(idle) < self.MAX_IDLE_PER_ORIGIN:
                    idle.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            c.close()


def is_tls_mismatch(err: BaseException) -> bool:
    """A TLS handshake against a plain-HTTP server (the cue to fall back to ``http://``)."""
    return isinstance(err, ssl.SSLError) and not isinstance(
        err, ssl.SSLCertVerificationError
    )

"""A token server and a fault-injecting proxy in front of the real registry (loopback threads).

``TokenServer`` issues bearer tokens at ``/token`` and remembers each request.
``FaultProxy`` forwards to the real registry; with a token server it demands
``Authorization: Bearer <issued token>`` (answering 401 with the bearer challenge), counts
the blob bytes it sends, and lets a test install ``proxy.fault = fn(request, upstream)`` to
rewrite or replace an answer (``upstream()`` fetches the real one as a :class:`Reply`).
``CdnServer`` is "another host" (bind it to 127.0.0.2) serving blobs for redirects.
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .server import free_port

BLOB_RE = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})")
MANIFEST_RE = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/?]+)")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    when: float = field(default_factory=time.monotonic)
    sent: int = 0  # body bytes the proxy sent in answer
    body: bytes = b""  # the request body (token POSTs)

    @property
    def is_blob(self) -> bool:
        return bool(BLOB_RE.match(self.path))

    @property
    def is_manifest(self) -> bool:
        return bool(MANIFEST_RE.match(self.path))


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1"):
        self.host = host
        self.port = free_port(host)
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.httpd = _Server((host, self.port), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    def record(self, h: BaseHTTPRequestHandler) -> Request:
        r = Request(h.command, h.path, {k: v for k, v in h.headers.items()})
        h.req = r  # type: ignore[attr-defined]
        with self.lock:
            self.requests.append(r)
        return r

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    @property
    def owner(self):
        return self.server.owner  # type: ignore[attr-defined]

    def send(
        self,
        reply: Reply,
        *,
        declared_length: int | None = None,
        cut_after: int | None = None,
    ) -> None:
        """Send ``reply``; optionally lie about Content-Length or drop the connection mid-body."""
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            if k.lower() not in (
                "content-length",
                "connection",
                "transfer-encoding",
                "date",
                "server",
            ):
                self.send_header(k, v)
        length = len(reply.body) if declared_length is None else declared_length
        if self.command == "HEAD" and declared_length is None and not reply.body:
            # a HEAD answer relayed from upstream: keep the length it announced
            length = int(
                {k.lower(): v for k, v in reply.headers.items()}.get(
                    "content-length", 0
                )
            )
        self.send_header("Content-Length", str(length))
        self.end_headers()
        body = reply.body if self.command != "HEAD" else b""
        if cut_after is not None:
            body = body[:cut_after]
        self.wfile.write(body)
        self.wfile.flush()
        req = getattr(self, "req", None)
        if req is not None:
            req.sent += len(body)
        self.owner.count(self.path, len(body))
        if cut_after is not None or (
            declared_length is not None and declared_length != len(reply.body)
        ):
            self.close_connection = True
            self.connection.shutdown(2)


class TokenServer(_Base):
    """``GET /token?service=…&scope=…`` → ``{"token": …}``."""

    def __init__(self, host: str = "127.0.0.1"):
        self.issued: set[str] = set()
        super().__init__(_TokenHandler, host)

    @property
    def realm(self) -> str:
        return f"http://{self.hostport}/token"

    def count(self, path: str, n: int) -> None:
        pass


class _TokenHandler(_Handler):
    def do_GET(self) -> None:
        req = self.owner.record(self)
        if self.command == "POST":
            req.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = secrets.token_urlsafe(24)
        self.owner.issued.add(token)
        body = json.dumps({"token": token, "expires_in": 300}).encode()
        self.send(Reply(200, {"Content-Type": "application/json"}, body))

    do_POST = do_GET


class FaultProxy(_Base):
    """Forward to ``upstream`` (``host:port`` of the real registry), injecting faults."""

    def __init__(
        self,
        upstream: str,
        *,
        tokens: TokenServer | None = None,
        host: str = "127.0.0.1",
    ):
        self.upstream = upstream
        self.tokens = tokens
        self.fault: (
            Callable[[_ProxyHandler, Request, Callable[[], Reply]], Reply | bool | None]
            | None
        ) = None
        self.blob_bytes = 0
        self.reject_all_tokens = False
        super().__init__(_ProxyHandler, host)

    def count(self, path: str, n: int) -> None:
        if BLOB_RE.match(path):
            with self.lock:
                self.blob_bytes += n

    def blob_bytes_sent(self) -> int:
        """Blob body bytes sent in answer to the requests recorded in ``self.requests``."""
        with self.lock:
            return sum(r.sent for r in self.requests if r.is_blob)

    def fetch(self, method: str, path: str, headers: dict[str, str]) -> Reply:
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            fwd = {
                k: v
                for k, v in headers.items()
                if k.lower() in ("accept", "range", "user-agent")
            }
            conn.request(method, path, headers=fwd)
            resp = conn.getresponse()
            body = resp.read()
            return Reply(resp.status, {k: v for k, v in resp.getheaders()}, body)
        finally:
            conn.close()


class _ProxyHandler(_Handler):
    def _handle(self) -> None:
        owner: FaultProxy = self.owner
        req = owner.record(self)
        if owner.tokens is not None:
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
            if owner.reject_all_tokens or token not in owner.tokens.issued:
                m = BLOB_RE.match(self.path) or MANIFEST_RE.match(self.path)
                scope = f',scope="repository:{m.group("repo")}:pull"' if m else ""
                self.send(
                    Reply(
                        401,
                        {
                            "WWW-Authenticate": f'Bearer realm="{owner.tokens.realm}",service="imagefs-test"{scope}',
                            "Content-Type": "application/json",
                        },
                        b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                    )
                )
                return

        def upstream() -> Reply:
            return owner.fetch(
                self.command, self.path.split("?", 1)[0], dict(self.headers.items())
            )

        if owner.fault is not None:
            out = owner.fault(self, req, upstream)
            if out is True:
                return  # the fault wrote its own answer
            if isinstance(out, Reply):
                self.send(out)
                return
        self.send(upstream())

    do_GET = _handle
    do_HEAD = _handle


class CdnServer(_Base):
    """Another host: serves ``/blob/<digest>`` from the registry, recording each request's headers."""

    def __init__(self, upstream: str, repo: str, host: str = "127.0.0.2"):
        self.upstream = upstream
        self.repo = repo
        super().__init__(_CdnHandler, host)

    def count(self, path: str, n: int) -> None:
        pass


class _CdnHandler(_Handler):
    def do_GET(self) -> None:
        owner: CdnServer = self.owner
        owner.record(self)
        digest = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
        conn = http.client.HTTPConnection(owner.upstream, timeout=30)
        try:
            conn.request("GET", f"/v2/{owner.repo}/blobs/{digest}")
            resp = conn.getresponse()
            self.send(
                Reply(
                    resp.status,
                    {"Content-Type": "application/octet-stream"},
                    resp.read(),
                )
            )
        finally:
            conn.close()

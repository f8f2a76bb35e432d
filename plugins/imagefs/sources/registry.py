"""The registry source: images straight from an OCI / Docker distribution registry.

``open_source(ref)`` gives the :class:`~imagefs.sources.base.Source` core for
``docker://REGISTRY/REPO[:TAG|@DIGEST]``; the generic layer in ``sources.base`` walks the
index to a platform and verifies every document.

What a listing costs:

- ``root()`` is a ``HEAD`` of the manifest (free of Docker Hub's pull quota) with an
  ``Accept`` header for OCI and Docker schema 2 manifests and indexes; ``GET`` only when
  the answer lacks a digest or size.
- Manifests, indexes and configs are fetched by digest, capped at 4 MiB, verified, and kept
  in a small content-addressed cache (``$IMAGEFS_CACHE_DIR/documents``) so a warm listing
  of an unchanged image is one ``HEAD``: the engine's layer cache, keyed by ``diff_id``,
  never opens a layer it has indexed.
- Layers stream: ``open_blob`` returns a reader that never reads past the descriptor's size.

Retries: transient failures (5xx, 429 with ``Retry-After``, resets, timeouts) are retried
with exponential backoff and jitter. A blob stream that breaks mid-way resumes with a
``Range`` request at the byte it reached (or re-reads and discards the prefix when the
server ignores ``Range``); the layer digest check in ``sources._blobs`` runs over the one
byte sequence the reader delivered, so a resumed blob is verified exactly like an
unbroken one and a server that changed the bytes in between fails the check.

Auth: the bearer-token challenge (realm/service/scope), basic auth, credentials from
``--creds``, ``IMAGEFS_REGISTRY_CREDS`` or the Docker configuration (see ``_auth``). The
``Authorization`` header goes only to the registry origin that challenged; redirects to any
other origin (a blob CDN) go without it.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import logging
import os
import re
import ssl
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

from .. import media
from ..errors import (
    AuthError,
    BadReferenceError,
    DigestMismatchError,
    InvalidImageError,
    NotFoundError,
    RegistryError,
    UnsupportedError,
)
from ..reference import ImageRef
from ._auth import HUB_ENDPOINT, Credentials, RedactingFilter, find_credentials, is_hub, parse_challenges, redact
from ._http import (
    NETWORK_ERRORS,
    Exchange,
    Origin,
    RetryPolicy,
    Timeouts,
    Transport,
    insecure_allowed,
    is_tls_mismatch,
    parse_retry_after,
    safe_url,
)
from .base import Descriptor, Source

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

__all__ = ["RegistryClient", "RegistrySource", "Timeouts", "RetryPolicy", "open_source"]

MAX_REDIRECTS = 10
USER_AGENT = "imagefs (+https://github.com/imagefs)"
_REDIRECTS = (301, 302, 303, 307, 308)
_CONFIG_TYPES = frozenset({media.OCI_CONFIG, media.DOCKER_CONFIG})
T = TypeVar("T")


def _digest_of(data: bytes, algorithm: str) -> str:
    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest()


def endpoint_of(registry: str) -> str:
    """The host to talk to: Docker Hub's API lives at ``registry-1.docker.io``."""
    return HUB_ENDPOINT if is_hub(registry) else registry


def repository_of(registry: str, repository: str) -> str:
    """Docker Hub's official images live under ``library/``."""
    return f"library/{repository}" if is_hub(registry) and "/" not in repository else repository


def _oneline(text: str, limit: int = 200) -> str:
    text = " ".join(redact(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RegistryClient:
    """The distribution API for one repository: auth, redirects, retries, status mapping."""

    def __init__(
        self,
        registry: str,
        repository: str,
        *,
        creds: str | Credentials | None = None,
        insecure_registries: tuple[str, ...] | list[str] = (),
        tls_verify: bool = True,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        env: dict[str, str] | None = None,
    ):
        self.registry = registry
        self.endpoint = endpoint_of(registry)
        self.repository = repository_of(registry, repository)
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self.insecure_registries = tuple(insecure_registries)
        self.tls_verify = tls_verify
        self.insecure = insecure_allowed(self.endpoint, self.insecure_registries, tls_verify)
        self.transport = Transport(self.timeouts)
        host = urlsplit(f"//{self.endpoint}").hostname or self.endpoint
        self.transport.set_verify(host, not self.insecure)
        self.scheme = "https"
        self._scheme_settled = not self.insecure  # insecure registries may fall back to http
        self._creds_arg = creds
        self._env = env
        self._creds: Credentials | None = None
        self._creds_loaded = False
        self._auth: str | None = None  # the Authorization value for the registry origin
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- plumbing

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.endpoint}/v2/{self.repository}{path}"

    def registry_origin(self) -> Origin:
        return Origin.of(f"{self.scheme}://{self.endpoint}/")

    def credentials(self) -> Credentials | None:
        with self._lock:
            if not self._creds_loaded:
                self._creds = find_credentials(self.registry, self._creds_arg, self._env)
                self._creds_loaded = True
            return self._creds

    def call(self, what: str, fn: Callable[[float], T]) -> T:
        """Run ``fn(deadline)``, retrying transient failures with backoff; one total deadline."""
        deadline = time.monotonic() + self.timeouts.total
        attempt = 0
        while True:
            try:
                return fn(deadline)
            except RegistryError as err:
                if not err.temporary:
                    raise
                failure: BaseException = err
                retry_after = getattr(err, "retry_after", None)
            except NETWORK_ERRORS as err:
                failure, retry_after = self.network_error(err, what), None
            attempt += 1
            delay = self.retry.delay(attempt - 1, retry_after)
            if attempt >= self.retry.attempts or time.monotonic() + delay > deadline:
                raise RegistryError(
                    f"{what}: {_oneline(str(failure))} (gave up after {attempt} tries)",
                    status=getattr(failure, "status", None),
                    temporary=True,
                ) from failure
            log.info("%s: %s; retry %d in %.1fs", what, _oneline(str(failure)), attempt, delay)
            time.sleep(delay)

    def network_error(self, err: BaseException, what: str) -> BaseException:
        """Raise at once on an untrusted certificate (no retry helps); return other network errors."""
        if isinstance(err, ssl.SSLCertVerificationError):
            raise RegistryError(
                f"{what}: the TLS certificate of {self.endpoint} is not trusted ({err.verify_message}); "
                f"use --insecure-registry {self.endpoint} or --tls-verify=false only if you trust the network"
            ) from err
        return err

    def exchange(self, method: str, path_or_url: str, deadline: float, what: str,
                 headers: dict[str, str] | None = None) -> Exchange:
        """One logical request: the auth handshake and redirects, no retries, no status checks."""
        url = path_or_url if "://" in path_or_url else self.url(path_or_url)
        refreshed = False
        redirects = 0
        while True:
            origin = Origin.of(url)
            to_registry = origin == self.registry_origin()
            sent_auth = None
            h = {"User-Agent": USER_AGENT, **(headers or {})}
            if to_registry:
                with self._lock:
                    sent_auth = self._auth
                if sent_auth:
                    h["Authorization"] = sent_auth
            try:
                ex = self.transport.exchange(method, url, h, deadline)
            except NETWORK_ERRORS as err:
                if to_registry and not self._scheme_settled and self.scheme == "https" and is_tls_mismatch(err):
                    log.info("%s does not speak TLS; using plain HTTP (an insecure registry)", self.endpoint)
                    self.scheme, self._scheme_settled = "http", True
                    url = "http" + url[len("https"):]
                    continue
                raise
            if to_registry:
                self._scheme_settled = True
            if ex.status in _REDIRECTS:
                location = ex.header("Location")
                ex.drain()
                ex.close()
                if not location:
                    raise RegistryError(f"{what}: redirect {ex.status} without a Location", status=ex.status)
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise RegistryError(
                        f"{what}: more than {MAX_REDIRECTS} redirects (the last to {safe_url(location)})",
                        status=ex.status,
                    )
                new = urljoin(url, location)
                if urlsplit(new).scheme == "http" and urlsplit(url).scheme == "https":
                    host = urlsplit(new).hostname or ""
                    if not insecure_allowed(host, self.insecure_registries, self.tls_verify):
                        raise RegistryError(f"{what}: refusing a redirect from HTTPS to plain HTTP ({safe_url(new)})")
                log.debug("%s: redirected to %s", what, safe_url(new))
                url = new
                if ex.status == 303 and method != "HEAD":
                    method = "GET"
                continue
            if ex.status == 401 and to_registry:
                challenge = ex.header("WWW-Authenticate") or ""
                ex.drain()
                ex.close()
                if refreshed:
                    creds = self.credentials()
                    who = f"the credentials from {creds.source}" if creds else "anonymous access"
                    raise AuthError(
                        f"{what}: {self.registry} refused {who} (401 after a fresh token); "
                        "check the name and your access, or pass --creds USER:PASS",
                        status=401,
                    )
                self.authenticate(challenge, sent_auth, deadline, what)
                refreshed = True
                continue
            return ex

    def authenticate(self, challenge: str, sent_auth: str | None, deadline: float, what: str) -> None:
        """Answer a 401 challenge: fetch a bearer token or switch to basic auth."""
        with self._lock:
            if self._auth != sent_auth:
                return  # another thread already refreshed it
        challenges = parse_challenges(challenge)
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        creds = self.credentials()
        if bearer is not None:
            value = "Bearer " + self.fetch_token(bearer.params, creds, deadline, what)
        elif basic is not None:
            if creds is None or not creds.username:
                raise AuthError(
                    f"{what}: {self.registry} requires a user name and password; "
                    "pass --creds USER:PASS, set IMAGEFS_REGISTRY_CREDS or run docker login",
                    status=401,
                )
            value = "Basic " + creds.basic_value()
        else:
            schemes = ", ".join(c.scheme for c in challenges) or "none"
            raise AuthError(f"{what}: {self.registry} asks for authentication imagefs does not speak ({schemes})", status=401)
        redact.add(value.split(" ", 1)[1])
        with self._lock:
            self._auth = value

    def fetch_token(self, params: dict[str, str], creds: Credentials | None, deadline: float, what: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"{what}: {self.registry} sent a bearer challenge without a realm", status=401)
        u = urlsplit(realm)
        if u.scheme not in ("https", "http") or not u.hostname:
            raise AuthError(f"{what}: bearer realm {safe_url(realm)} is not an http(s) URL", status=401)
        if u.scheme == "http" and not insecure_allowed(u.netloc, self.insecure_registries, self.tls_verify):
            raise AuthError(f"{what}: refusing to fetch a token over plain HTTP from {safe_url(realm)}", status=401)
        if u.scheme == "https":
            self.transport.set_verify(u.hostname, not insecure_allowed(u.netloc, self.insecure_registries, self.tls_verify))
        scope = params.get("scope") or f"repository:{self.repository}:pull"
        query = [(k, v) for k, v in (("service", params.get("service")), ("scope", scope)) if v]
        headers = {"Accept": "application/json"}
        method, body_url = "GET", realm + ("&" if u.query else "?") + urlencode(query)
        if creds is not None and creds.identity_token:
            # an OAuth2 refresh token from `docker login` with single sign-on
            form = urlencode(query + [("grant_type", "refresh_token"), ("client_id", "imagefs"),
                                      ("refresh_token", creds.identity_token)])
            return self._token_request("POST", realm, headers, deadline, what, creds, form.encode())
        if creds is not None and creds.username:
            headers["Authorization"] = "Basic " + creds.basic_value()
        return self._token_request(method, body_url, headers, deadline, what, creds, None)

    def _token_request(self, method: str, url: str, headers: dict[str, str], deadline: float, what: str,
                       creds: Credentials | None, body: bytes | None) -> str:
        h = {"User-Agent": USER_AGENT, **headers}
        origin = Origin.of(url)
        conn = self.transport._new_conn(origin)  # a token request never shares a connection
        try:
            remaining = max(0.001, deadline - time.monotonic())
            conn.timeout = min(self.timeouts.connect, remaining)
            conn.connect()
            conn.sock.settimeout(min(self.timeouts.idle, remaining))
            if body is not None:
                h["Content-Type"] = "application/x-www-form-urlencoded"
            target = urlsplit(url)
            conn.request(method, target.path + (f"?{target.query}" if target.query else ""), body=body, headers=h)
            resp = conn.getresponse()
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > 1 << 20:
                raise RegistryError(f"{what}: token answer of {length} bytes is too large")
            data = resp.read(1 << 20)
            status = resp.status
        except http.client.HTTPException as err:
            raise RegistryError(f"token server {safe_url(url)}: {err!r}", temporary=True) from err
        finally:
            conn.close()
        where = f"{what}: token server {safe_url(url)}"
        if status in (401, 403):
            who = f"the credentials from {creds.source}" if creds else "anonymous access"
            raise AuthError(f"{where} refused {who} ({status}); check them or run docker login", status=status)
        if status == 429 or status >= 500:
            err = RegistryError(f"{where} answered {status}", status=status, temporary=True)
            err.retry_after = None  # type: ignore[attr-defined]
            raise err
        if status != 200:
            raise AuthError(f"{where} answered {status}", status=status)
        try:
            doc = json.loads(data)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError) as err:
            raise AuthError(f"{where}: the answer is not JSON with a token") from err
        if not isinstance(token, str) or not token:
            raise AuthError(f"{where}: the answer holds no token")
        redact.add(token)
        return token

    def check(self, ex: Exchange, what: str, ok: tuple[int, ...] = (200,)) -> Exchange:
        """Return ``ex`` when its status is in ``ok``; else close it and raise the right error."""
        if ex.status in ok:
            return ex
        status = ex.status
        detail = ""
        try:
            if ex.resp.length is None or ex.resp.length <= 65536:
                body = ex.read(65536)
                try:
                    errors = json.loads(body).get("errors") or []
                    if errors and isinstance(errors[0], dict):
                        detail = f" ({errors[0].get('code', '')}: {errors[0].get('message', '')})"
                except (ValueError, AttributeError):
                    detail = ""
        except NETWORK_ERRORS:
            pass
        finally:
            retry_after = parse_retry_after(ex.header("Retry-After"))
            ex.close()
        detail = _oneline(detail)
        where = f"{self.registry}/{self.repository}"
        if status == 404:
            raise NotFoundError(f"{what}: not found in {where}{detail}; check the name, tag or digest")
        if status in (401, 403):
            raise AuthError(f"{what}: {where} denies access ({status}){detail}; check the name and your credentials", status=status)
        temporary = status == 429 or status >= 500
        err = RegistryError(f"{what}: {where} answered {status}{detail}", status=status, temporary=temporary)
        err.retry_after = retry_after  # type: ignore[attr-defined]
        raise err

    def get_document(self, path: str, what: str, cap: int, accept: str | None) -> tuple[bytes, Exchange]:
        def attempt(deadline: float) -> tuple[bytes, Exchange]:
            ex = self.check(self.exchange("GET", path, deadline, what, {"Accept": accept} if accept else None), what)
            try:
                return ex.read_capped(cap, what), ex
            finally:
                ex.close()

        return self.call(what, attempt)

    def close(self) -> None:
        self.transport.close()


class BlobReader(io.RawIOBase):
    """A blob's bytes, exactly ``desc.size`` of them, resuming with ``Range`` after a break."""

    def __init__(self, client: RegistryClient, desc: Descriptor, what: str):
        super().__init__()
        self.client = client
        self.desc = desc
        self.what = what
        self.pos = 0
        self.ex: Exchange | None = None
        self.failures = 0
        self.deadline = time.monotonic() + client.timeouts.total

    def readable(self) -> bool:
        return True

    def _open(self) -> None:
        headers = {"Range": f"bytes={self.pos}-"} if self.pos else {}
        ex = self.client.exchange("GET", f"/blobs/{self.desc.digest}", self.deadline, self.what, headers)
        self.client.check(ex, self.what, ok=(200, 206))
        self.ex = ex
        size = self.desc.size
        skip = 0
        if ex.status == 206:
            m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", ex.header("Content-Range") or "")
            if not m or int(m.group(1)) != self.pos:
                raise RegistryError(f"{self.what}: bad Content-Range {ex.header('Content-Range')!r} for a resume at {self.pos}", temporary=True)
            expect = size - self.pos
        else:
            expect, skip = size, self.pos
        length = ex.content_length()
        if length is not None and length != expect:
            raise RegistryError(
                f"{self.what}: the registry announces {length} bytes where the descriptor says {expect}",
                status=ex.status,
                temporary=True,
            )
        while skip:  # the server ignored Range: read through what we already delivered
            chunk = ex.read(min(skip, 1 << 20))
            if not chunk:
                raise http_incomplete()
            skip -= len(chunk)

    def readinto(self, buf: Any) -> int:
        if self.pos >= self.desc.size:
            self._release()
            return 0
        view = memoryview(buf).cast("B")
        want = min(len(view), self.desc.size - self.pos)
        while True:
            try:
                if self.ex is None:
                    self._open()
                assert self.ex is not None
                n = self.ex.readinto(view[:want])
                if not n:
                    raise http_incomplete()
                self.pos += n
                if self.pos >= self.desc.size:
                    self._release()
                return n
            except RegistryError as err:
                if not err.temporary:
                    self._release()
                    raise
                self._failed(err, getattr(err, "retry_after", None))
            except NETWORK_ERRORS as err:
                self._failed(self.client.network_error(err, self.what), None)

    def _failed(self, err: BaseException, retry_after: float | None) -> None:
        self._release(broken=True)
        self.failures += 1
        delay = self.client.retry.delay(self.failures - 1, retry_after)
        if self.failures >= self.client.retry.attempts or time.monotonic() + delay > self.deadline:
            raise RegistryError(
                f"{self.what}: {_oneline(str(err) or type(err).__name__)} at byte {self.pos} of {self.desc.size} "
                f"(gave up after {self.failures} tries)",
                temporary=True,
            ) from err
        log.warning("%s: %s at byte %d; resuming in %.1fs", self.what, _oneline(str(err) or type(err).__name__), self.pos, delay)
        time.sleep(delay)

    def _release(self, broken: bool = False) -> None:
        ex, self.ex = self.ex, None
        if ex is not None:
            if broken or not ex.resp.isclosed():
                ex.conn.close()
            ex.close()

    def close(self) -> None:
        self._release(broken=self.pos < self.desc.size)
        super().close()


def http_incomplete() -> Exception:
    return http.client.IncompleteRead(b"")


class DocumentCache:
    """Verified manifests, indexes and configs by digest (content-addressed, atomic writes)."""

    def __init__(self, root: Path | None):
        self.root = root

    @classmethod
    def default(cls) -> "DocumentCache":
        base = os.environ.get("IMAGEFS_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "imagefs"
        )
        return cls(Path(base) / "documents")

    def _path(self, digest: str) -> Path | None:
        if self.root is None:
            return None
        algo, _, hexd = digest.partition(":")
        return self.root / algo / hexd

    def get(self, digest: str) -> bytes | None:
        p = self._path(digest)
        if p is None:
            return None
        try:
            data = p.read_bytes()
        except OSError:
            return None
        return data if _digest_of(data, digest.split(":")[0]) == digest else None

    def put(self, digest: str, data: bytes) -> None:
        p = self._path(digest)
        if p is None or p.exists():
            return
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
        except OSError as err:
            log.debug("document cache: cannot store %s: %s", digest, err)


class RegistrySource(Source):
    """The :class:`Source` core over a :class:`RegistryClient`."""

    def __init__(self, ref: ImageRef, client: RegistryClient, documents: DocumentCache):
        d = ref.docker
        assert d is not None
        self.ref = ref
        self.client = client
        self.documents = documents
        self.reference = d.digest or d.tag or "latest"
        self.name = f"{d.registry}/{d.repository}" + (f"@{d.digest}" if d.digest else f":{self.reference}")
        self._docs: dict[str, bytes] = {}
        self.max_document = media.MAX_DOCUMENT_SIZE

    def root(self) -> Descriptor:
        what = f"{self.name}: manifest"
        want = self.ref.docker.digest if self.ref.docker else None

        def head(deadline: float) -> Descriptor | None:
            ex = self.client.exchange("HEAD", f"/manifests/{self.reference}", deadline, what,
                                      {"Accept": media.ACCEPT_MANIFESTS})
            if ex.status in (400, 405, 501):  # a registry without HEAD support
                ex.close()
                return None
            self.client.check(ex, what)
            ex.drain()
            ex.close()
            mt = (ex.header("Content-Type") or "").split(";")[0].strip()
            digest = (ex.header("Docker-Content-Digest") or "").strip() or None
            length = ex.content_length()
            self._check_media_type(mt, what)
            if want and digest and digest != want:
                raise DigestMismatchError(f"{what}: the registry says {digest} for the requested {want}")
            if length is None or not (want or digest) or not (media.is_index(mt) or media.is_manifest(mt)):
                return None
            self._check_size(length, what)
            return Descriptor(mt, want or digest or "", length)

        desc = self.client.call(what, head)
        if desc is not None:
            log.debug("%s: HEAD gives %s (%s, %d bytes)", what, desc.digest, desc.media_type, desc.size)
            return desc
        # Fall back to GET: the digest is the hash of the body we received.
        data, ex = self.client.get_document(f"/manifests/{self.reference}", what, self.max_document, media.ACCEPT_MANIFESTS)
        algo = want.split(":")[0] if want else "sha256"
        digest = _digest_of(data, algo)
        if want and digest != want:
            raise DigestMismatchError(f"{what}: the registry sent a manifest whose digest is {digest}, not the requested {want}")
        mt = (ex.header("Content-Type") or "").split(";")[0].strip()
        if not (media.is_index(mt) or media.is_manifest(mt)):
            try:
                declared = json.loads(data).get("mediaType")
            except (ValueError, AttributeError):
                declared = None
            mt = declared if isinstance(declared, str) else mt
        self._check_media_type(mt, what)
        self._docs[digest] = data
        return Descriptor(mt, digest, len(data))

    def _check_media_type(self, mt: str, what: str) -> None:
        if mt in media.SCHEMA1_TYPES:
            raise UnsupportedError(
                f"{what}: Docker schema 1 manifests are not supported; re-push the image with a current Docker or skopeo"
            )

    def _check_size(self, size: int, what: str) -> None:
        if size > self.max_document:
            raise InvalidImageError(f"{what}: the document is {size} bytes, over the {self.max_document}-byte cap")

    def _document(self, desc: Descriptor, path: str, what: str, accept: str | None) -> bytes:
        self._check_size(desc.size, what)
        data = self._docs.get(desc.digest) or self.documents.get(desc.digest)
        if data is None:
            data, _ = self.client.get_document(path, what, self.max_document, accept)
            actual = _digest_of(data, desc.digest.split(":")[0])
            if actual != desc.digest:
                raise DigestMismatchError(f"{what}: content digest is {actual}, expected {desc.digest}")
            self.documents.put(desc.digest, data)
        self._docs[desc.digest] = data
        return data

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        what = f"{self.name}: manifest {desc.digest}"
        return self._document(desc, f"/manifests/{desc.digest}", what, media.ACCEPT_MANIFESTS)

    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        what = f"{self.name}: blob {desc.digest}"
        if desc.media_type in _CONFIG_TYPES or (desc.media_type.endswith("+json") and desc.size <= self.max_document):
            return io.BytesIO(self._document(desc, f"/blobs/{desc.digest}", what, None))
        return io.BufferedReader(BlobReader(self.client, desc, what), buffer_size=256 * 1024)

    def close(self) -> None:
        self.client.close()


def open_source(
    ref: ImageRef,
    *,
    creds: str | Credentials | None = None,
    insecure_registries: tuple[str, ...] | list[str] = (),
    tls_verify: bool = True,
    timeouts: Timeouts | None = None,
    retry: RetryPolicy | None = None,
    document_cache: bool = True,
    **_: Any,
) -> RegistrySource:
    """The source for ``docker://REGISTRY/REPO[:TAG|@DIGEST]`` (``ref.docker``)."""
    d = ref.docker
    if d is None or not d.registry or not d.repository:
        raise BadReferenceError(f"{ref!r}: not a registry reference (expected REGISTRY/REPOSITORY[:TAG|@DIGEST])")
    client = RegistryClient(
        d.registry,
        d.repository,
        creds=creds,
        insecure_registries=tuple(insecure_registries or ()),
        tls_verify=tls_verify,
        timeouts=timeouts,
        retry=retry,
    )
    docs = DocumentCache.default() if document_cache else DocumentCache(None)
    return RegistrySource(ref, client, docs)


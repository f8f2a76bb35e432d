"""The distribution API for one repository (private to the registry source).

:class:`RegistryClient` does one logical request at a time: the ``Authorization`` header
(to the registry origin only), the answer to a 401 challenge (a bearer token from the
realm, or basic auth; one refresh per request, then :class:`~imagefs.errors.AuthError`),
at most 10 redirects (to other origins without credentials), status codes mapped to typed
errors, and :meth:`RegistryClient.call` retrying transient failures with backoff.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

from ..errors import AuthError, NotFoundError, RegistryError
from ._auth import (
    HUB_ENDPOINT,
    Credentials,
    RedactingFilter,
    find_credentials,
    is_hub,
    parse_challenges,
    redact,
)
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

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

MAX_REDIRECTS = 10
USER_AGENT = "imagefs (+https://github.com/imagefs)"
_REDIRECTS = (301, 302, 303, 307, 308)
T = TypeVar("T")


def digest_of(data: bytes, algorithm: str) -> str:
    return f"{algorithm}:" + hashlib.new(algorithm, data).hexdigest()


def endpoint_of(registry: str) -> str:
    """The host to talk to: Docker Hub's API lives at ``registry-1.docker.io``."""
    return HUB_ENDPOINT if is_hub(registry) else registry


def repository_of(registry: str, repository: str) -> str:
    """Docker Hub's official images live under ``library/``."""
    return (
        f"library/{repository}"
        if is_hub(registry) and "/" not in repository
        else repository
    )


def oneline(text: str, limit: int = 300, what: str | None = None) -> str:
    """``text`` redacted, on one line, at most ``limit`` characters, minus a repeated ``what: `` prefix."""
    text = " ".join(redact(text).split())
    if what and text.startswith(what + ": "):
        text = text[len(what) + 2 :]
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
        self.insecure = insecure_allowed(
            self.endpoint, self.insecure_registries, tls_verify
        )
        self.transport = Transport(self.timeouts)
        host = urlsplit(f"//{self.endpoint}").hostname or self.endpoint
        self.transport.set_verify(host, not self.insecure)
        self.scheme = "https"
        self._scheme_settled = (
            not self.insecure
        )  # insecure registries may fall back to http
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
                self._creds = find_credentials(
                    self.registry, self._creds_arg, self._env
                )
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
                hint = ""
                if isinstance(failure, (ConnectionError, TimeoutError, socket.timeout)):
                    hint = f"; check that the registry {self.endpoint} is up and the image name's host and port are right"
                raise RegistryError(
                    f"{what}: {oneline(str(failure), what=what)} (gave up after {attempt} tries){hint}",
                    status=getattr(failure, "status", None),
                    temporary=True,
                ) from failure
            log.info(
                "%s: %s; retry %d in %.1fs", what, oneline(str(failure)), attempt, delay
            )
            time.sleep(delay)

    def network_error(self, err: BaseException, what: str) -> BaseException:
        """Raise at once on an untrusted certificate (no retry helps); return other network errors."""
        if isinstance(err, ssl.SSLCertVerificationError):
            raise RegistryError(
                f"{what}: the TLS certificate of {self.endpoint} is not trusted ({err.verify_message}); "
                f"use --insecure-registry {self.endpoint} or --tls-verify=false only if you trust the network"
            ) from err
        if isinstance(err, socket.gaierror):
            raise RegistryError(
                f"{what}: cannot resolve {self.endpoint} ({err.strerror}); check the registry name"
            ) from err
        return err

    def exchange(
        self,
        method: str,
        path_or_url: str,
        deadline: float,
        what: str,
        headers: dict[str, str] | None = None,
    ) -> Exchange:
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
                if (
                    to_registry
                    and not self._scheme_settled
                    and self.scheme == "https"
                    and is_tls_mismatch(err)
                ):
                    log.info(
                        "%s does not speak TLS; using plain HTTP (an insecure registry)",
                        self.endpoint,
                    )
                    self.scheme, self._scheme_settled = "http", True
                    url = "http" + url[len("https") :]
                    continue
                raise
            if to_registry:
                self._scheme_settled = True
            if ex.status in _REDIRECTS:
                location = ex.header("Location")
                ex.drain()
                ex.close()
                if not location:
                    raise RegistryError(
                        f"{what}: redirect {ex.status} without a Location",
                        status=ex.status,
                    )
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise RegistryError(
                        f"{what}: more than {MAX_REDIRECTS} redirects (the last to {safe_url(location)})",
                        status=ex.status,
                    )
                new = urljoin(url, location)
                if urlsplit(new).scheme == "http" and urlsplit(url).scheme == "https":
                    host = urlsplit(new).hostname or ""
                    if not insecure_allowed(
                        host, self.insecure_registries, self.tls_verify
                    ):
                        raise RegistryError(
                            f"{what}: refusing a redirect from HTTPS to plain HTTP ({safe_url(new)})"
                        )
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
                    who = (
                        f"the credentials from {creds.source}"
                        if creds
                        else "anonymous access"
                    )
                    raise AuthError(
                        f"{what}: {self.registry} refused {who} (401 after a fresh token); "
                        "check the name and your access, or pass --creds USER:PASS",
                        status=401,
                    )
                self.authenticate(challenge, sent_auth, deadline, what)
                refreshed = True
                continue
            return ex

    def authenticate(
        self, challenge: str, sent_auth: str | None, deadline: float, what: str
    ) -> None:
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
            raise AuthError(
                f"{what}: {self.registry} asks for authentication imagefs does not speak ({schemes})",
                status=401,
            )
        redact.add(value.split(" ", 1)[1])
        with self._lock:
            self._auth = value

    def fetch_token(
        self,
        params: dict[str, str],
        creds: Credentials | None,
        deadline: float,
        what: str,
    ) -> str:
        realm = params.get("realm")
        if not realm:
            raise AuthError(
                f"{what}: {self.registry} sent a bearer challenge without a realm",
                status=401,
            )
        u = urlsplit(realm)
        if u.scheme not in ("https", "http") or not u.hostname:
            raise AuthError(
                f"{what}: bearer realm {safe_url(realm)} is not an http(s) URL",
                status=401,
            )
        if u.scheme == "http" and not insecure_allowed(
            u.netloc, self.insecure_registries, self.tls_verify
        ):
            raise AuthError(
                f"{what}: refusing to fetch a token over plain HTTP from {safe_url(realm)}",
                status=401,
            )
        if u.scheme == "https":
            self.transport.set_verify(
                u.hostname,
                not insecure_allowed(
                    u.netloc, self.insecure_registries, self.tls_verify
                ),
            )
        scope = params.get("scope") or f"repository:{self.repository}:pull"
        query = [
            (k, v)
            for k, v in (("service", params.get("service")), ("scope", scope))
            if v
        ]
        headers = {"Accept": "application/json"}
        method, body_url = "GET", realm + ("&" if u.query else "?") + urlencode(query)
        if creds is not None and creds.identity_token:
            # an OAuth2 refresh token from `docker login` with single sign-on
            form = urlencode(
                query
                + [
                    ("grant_type", "refresh_token"),
                    ("client_id", "imagefs"),
                    ("refresh_token", creds.identity_token),
                ]
            )
            return self._token_request(
                "POST", realm, headers, deadline, what, creds, form.encode()
            )
        if creds is not None and creds.username:
            headers["Authorization"] = "Basic " + creds.basic_value()
        return self._token_request(
            method, body_url, headers, deadline, what, creds, None
        )

    def _token_request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        deadline: float,
        what: str,
        creds: Credentials | None,
        body: bytes | None,
    ) -> str:
        h = {"User-Agent": USER_AGENT, **headers}
        origin = Origin.of(url)
        conn = self.transport._new_conn(
            origin
        )  # a token request never shares a connection
        try:
            remaining = max(0.001, deadline - time.monotonic())
            conn.timeout = min(self.timeouts.connect, remaining)
            conn.connect()
            conn.sock.settimeout(min(self.timeouts.idle, remaining))
            if body is not None:
                h["Content-Type"] = "application/x-www-form-urlencoded"
            target = urlsplit(url)
            conn.request(
                method,
                target.path + (f"?{target.query}" if target.query else ""),
                body=body,
                headers=h,
            )
            resp = conn.getresponse()
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > 1 << 20:
                raise RegistryError(
                    f"{what}: token answer of {length} bytes is too large"
                )
            data = resp.read(1 << 20)
            status = resp.status
        except http.client.HTTPException as err:
            raise RegistryError(
                f"token server {safe_url(url)}: {err!r}", temporary=True
            ) from err
        finally:
            conn.close()
        where = f"{what}: token server {safe_url(url)}"
        if status in (401, 403):
            who = (
                f"the credentials from {creds.source}" if creds else "anonymous access"
            )
            raise AuthError(
                f"{where} refused {who} ({status}); check them or run docker login",
                status=status,
            )
        if status == 429 or status >= 500:
            err = RegistryError(
                f"{where} answered {status}", status=status, temporary=True
            )
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
        detail = oneline(detail)
        where = f"{self.registry}/{self.repository}"
        if status == 404:
            raise NotFoundError(
                f"{what}: not found in {where}{detail}; check the name, tag or digest"
            )
        if status in (401, 403):
            raise AuthError(
                f"{what}: {where} denies access ({status}){detail}; check the name and your credentials",
                status=status,
            )
        temporary = status == 429 or status >= 500
        err = RegistryError(
            f"{what}: {where} answered {status}{detail}",
            status=status,
            temporary=temporary,
        )
        err.retry_after = retry_after  # type: ignore[attr-defined]
        raise err

    def get_document(
        self, path: str, what: str, cap: int, accept: str | None, exact: bool = False
    ) -> tuple[bytes, Exchange]:
        """GET a whole (small) body, at most ``cap`` bytes (the descriptor's size when ``exact``)."""

        def attempt(deadline: float) -> tuple[bytes, Exchange]:
            ex = self.check(
                self.exchange(
                    "GET", path, deadline, what, {"Accept": accept} if accept else None
                ),
                what,
            )
            try:
                return ex.read_capped(cap, what, exact=exact), ex
            finally:
                ex.close()

        return self.call(what, attempt)

    def close(self) -> None:
        self.transport.close()

"""Registry credentials and the bearer-token handshake (private to the registry source).

- :func:`parse_challenges` reads a ``WWW-Authenticate`` header (RFC 7235 auth-params).
- :class:`Credentials` come, first match wins, from an explicit ``--creds USER:PASS``,
  ``IMAGEFS_REGISTRY_CREDS``, then the Docker client configuration
  (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``: ``credHelpers``,
  ``credsStore`` through ``docker-credential-*`` executables, and ``auths`` with the base64
  ``auth`` field or ``username``/``password``).
- :class:`Redactor` removes every secret (passwords, tokens, ``Authorization`` values,
  signed query strings) from messages before they are raised or logged.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..errors import AuthError, UsageError

log = logging.getLogger(__name__)

HUB_REGISTRY = "docker.io"
HUB_ENDPOINT = "registry-1.docker.io"
# The key ``docker login`` writes for Docker Hub, and the server URL its helpers expect.
HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)


# --------------------------------------------------------------------------- redaction


class Redactor:
    """Replace known secrets and anything shaped like a credential with ``***``."""

    _PATTERNS: ClassVar[list[tuple[re.Pattern[str], str]]] = [
        (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
        (
            re.compile(
                r"(?i)\b((?:access_|refresh_|identity)?token|password|secret|signature|sig|x-amz-[a-z-]+)=[^&\s\"']+"
            ),
            r"\1=***",
        ),
        (
            re.compile(
                r"(?i)\"((?:access_|refresh_)?token|password|secret|identitytoken|auth)\"\s*:\s*\"[^\"]*\""
            ),
            r'"\1": "***"',
        ),
    ]

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for s in secrets:
            text = text.replace(s, "***")
        for pat, repl in self._PATTERNS:
            text = pat.sub(repl, text)
        return text


#: The process-wide redactor; every secret the registry source learns is added to it.
redact = Redactor()


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg or record.args:
            record.msg, record.args = clean, None
        return True


log.addFilter(RedactingFilter())


# --------------------------------------------------------------------------- challenges


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer", "basic"
    params: dict[str, str] = field(default_factory=dict)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_UNQUOTED = re.compile(r"[^,\s\"]+")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into challenges (scheme + lower-cased params).

    ``Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`` gives
    ``[Challenge("bearer", {"realm": ..., "service": ...})]``. Several challenges may share one
    header, separated by commas. Malformed parts are skipped, never raised on.
    """
    out: list[Challenge] = []
    current: Challenge | None = None
    pos, n = 0, len(header)

    def skip_ws(p: int) -> int:
        while p < n and header[p] in " \t":
            p += 1
        return p

    while pos < n:
        pos = skip_ws(pos)
        if pos < n and header[pos] == ",":
            pos += 1
            continue
        m = _TOKEN.match(header, pos)
        if not m:
            pos += 1  # a stray character
            continue
        name, after = m.group(0), skip_ws(m.end())
        if current is not None and after < n and header[after] == "=":
            vpos = skip_ws(after + 1)
            q = _QUOTED.match(header, vpos)
            if q:
                value, pos = re.sub(r"\\(.)", r"\1", q.group(1)), q.end()
            else:
                t = _UNQUOTED.match(
                    header, vpos
                )  # lenient: realm=https://x/token unquoted
                value, pos = (t.group(0), t.end()) if t else ("", vpos)
            current.params[name.lower()] = value
            continue
        current = Challenge(name.lower(), {})
        out.append(current)
        pos = after
        t = _TOKEN68.match(header, pos)
        if t:
            end = skip_ws(t.end())
            if (
                end >= n or header[end] == ","
            ):  # "Negotiate abc==": an unnamed token68 credential
                current.params[""] = t.group(0)
                pos = end
    return out


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    source: str  # where they came from, for messages ("--creds", "docker config auths", ...)
    identity_token: str | None = (
        None  # an OAuth2 refresh token (``docker login`` with SSO)
    )

    def __post_init__(self) -> None:
        redact.add(self.password)
        redact.add(self.identity_token)
        redact.add(self.basic_value())

    def basic_value(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(username={self.username!r}, source={self.source!r})"


def parse_creds(text: str, source: str) -> Credentials:
    """``USER:PASS`` (the password may contain ``:``)."""
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise UsageError(
            f"{source}: expected USER:PASS (for example --creds alice:s3cret)"
        )
    return Credentials(user, password, source)


def config_dir(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    return Path(env.get("HOME") or Path.home()) / ".docker"


def _host_of_key(key: str) -> str:
    """A docker-config ``auths`` key to ``host[:port]``: drops the scheme and any path."""
    k = re.sub(r"^[a-z]+://", "", key.strip().lower())
    return k.split("/", 1)[0]


def is_hub(registry: str) -> bool:
    return registry.lower() in _HUB_NAMES


def helper_server_url(registry: str) -> str:
    return HUB_CONFIG_KEY if is_hub(registry) else registry


def run_helper(
    helper: str, server: str, *, timeout: float = 30.0
) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for the credentials of ``server``."""
    exe = f"docker-credential-{helper}"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", helper):
        raise UsageError(
            f"docker config: credential helper name {helper!r} is not valid"
        )
    try:
        proc = subprocess.run(
            [exe, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as err:
        raise AuthError(
            f"docker config names credential helper {helper!r} but {exe} is not on PATH; install it or remove it from config.json"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise AuthError(f"{exe} get {server}: no answer within {timeout:.0f}s") from err
    if proc.returncode != 0:
        msg = (
            proc.stdout.decode(errors="replace").strip()
            or proc.stderr.decode(errors="replace").strip()
        )
        if "not found" in msg.lower() or not msg:
            return None
        raise AuthError(f"{exe} get {server}: {redact(msg.splitlines()[0])}")
    try:
        doc = json.loads(proc.stdout)
        user, secret = doc.get("Username") or "", doc.get("Secret") or ""
    except (ValueError, AttributeError) as err:
        raise AuthError(f"{exe} get {server}: answer is not the expected JSON") from err
    if not isinstance(user, str) or not isinstance(secret, str) or not secret:
        return None
    if user == "<token>":
        return Credentials("", "", f"credential helper {helper}", identity_token=secret)
    return Credentials(user, secret, f"credential helper {helper}")


def from_docker_config(
    registry: str, env: dict[str, str] | None = None
) -> Credentials | None:
    """Credentials for ``registry`` (``docker.io``, ``ghcr.io``, ``localhost:5000``) from config.json."""
    path = config_dir(env) / "config.json"
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise UsageError(
            f"{path}: cannot read the Docker client configuration ({err})"
        ) from err
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: not a JSON object")
    want = {registry.lower()} | (set(_HUB_NAMES) if is_hub(registry) else set())
    helpers = doc.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if _host_of_key(key) in want and isinstance(helper, str):
                return run_helper(helper, helper_server_url(registry))
    auths = doc.get("auths") or {}
    entry = None
    if isinstance(auths, dict):
        for key, value in auths.items():
            if _host_of_key(key) in want and isinstance(value, dict):
                entry = value
                break
    if entry is not None:
        creds = _from_auth_entry(entry, f"{path} auths")
        if creds is not None:
            return creds
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        return run_helper(store, helper_server_url(registry))
    return None


def _from_auth_entry(entry: dict, source: str) -> Credentials | None:
    identity = (
        entry.get("identitytoken")
        if isinstance(entry.get("identitytoken"), str)
        else None
    )
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            text = base64.b64decode(auth, validate=False).decode()
        except (ValueError, UnicodeDecodeError) as err:
            raise UsageError(
                f"{source}: the 'auth' field is not base64 of USER:PASS"
            ) from err
        user, sep, password = text.partition(":")
        if not sep:
            raise UsageError(f"{source}: the 'auth' field is not base64 of USER:PASS")
        return Credentials(user, password, source, identity_token=identity)
    user, password = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(password, str) and user:
        return Credentials(user, password, source, identity_token=identity)
    if identity:
        return Credentials("", "", source, identity_token=identity)
    return None


def find_credentials(
    registry: str,
    creds: str | Credentials | None = None,
    env: dict[str, str] | None = None,
) -> Credentials | None:
    """Credentials for ``registry``: explicit, then ``IMAGEFS_REGISTRY_CREDS``, then docker config."""
    env_map = os.environ if env is None else env
    if isinstance(creds, Credentials):
        return creds
    if creds:
        return parse_creds(creds, "--creds")
    if env_map.get("IMAGEFS_REGISTRY_CREDS"):
        return parse_creds(env_map["IMAGEFS_REGISTRY_CREDS"], "IMAGEFS_REGISTRY_CREDS")
    return from_docker_config(registry, env)

"""Image names: skopeo's transport syntax and docker references.

Transports (the names users already know from skopeo)::

    oci:DIR[:TAG]              an OCI image layout directory
    oci:DIR@sha256:HEX         ... the manifest or index with that digest
    oci-archive:FILE[:TAG]     a tar of an OCI image layout
    docker-archive:FILE        a ``docker save`` tarball (.tar or .tar.gz)
    docker-archive:FILE:REPO:TAG    ... the image tagged REPO:TAG in it
    docker-archive:FILE:@N     ... the N-th image of its manifest.json (0-based)
    docker://REF, or a bare REF     a registry image (see parse_docker_reference)

Paths containing ``:``. skopeo splits ``oci:`` at the first colon, so it cannot name a
directory with a colon in it. imagefs does this instead:

* if the whole text after ``oci:`` / ``oci-archive:`` names an existing path, that is
  the path and there is no tag;
* otherwise it splits at the LAST colon, and only when what follows is a valid tag
  (no ``/``); ``oci:a:b/c`` is the directory ``a:b/c``.
* ``docker-archive:`` takes the shortest prefix that names an existing file (so
  ``docker-archive:x.tar:localhost:5000/r:t`` works); failing that it splits at the
  first colon like skopeo.

Docker references follow github.com/distribution/reference (the grammar in its
``regexp.go`` and the defaults of ``normalize.go``)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]      host: DNS name, IPv4 or [IPv6]
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex

The first ``/``-separated component is a domain when it contains ``.`` or ``:``, is
``localhost``, or has an uppercase letter; otherwise the domain is ``docker.io`` and a
single-component name gets ``library/``. With neither tag nor digest the tag is ``latest``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .errors import BadReferenceError

DEFAULT_REGISTRY = "docker.io"
LEGACY_REGISTRY = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
MAX_NAME_LENGTH = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_IPV6 = r"\[[a-fA-F0-9:]+\]"
_DOMAIN_RE = re.compile(r"(?:" + _DOMAIN_NAME + "|" + _IPV6 + r")(?::[0-9]+)?\Z")
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(_PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*\Z")
_TAG_RE = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST_SYNTAX_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}\Z")
_DIGEST_HEX_LEN = {"sha256": 64, "sha384": 96, "sha512": 128}
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}\Z")
# An OCI layout tag (org.opencontainers.image.ref.name), minus "/" and ":" which the
# transport syntax cannot carry unambiguously.
_OCI_TAG_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._+@-]*[A-Za-z0-9_])?\Z")

# skopeo transports imagefs recognises but does not read.
_OTHER_TRANSPORTS = {"dir", "containers-storage", "docker-daemon", "ostree", "sif", "tarball"}
TRANSPORTS = ("oci", "oci-archive", "docker-archive", "docker")


def _fail(text: str, problem: str, example: str) -> BadReferenceError:
    return BadReferenceError(f"image name {text!r}: {problem} (for example {example})")


@dataclass(frozen=True, slots=True)
class DockerReference:
    registry: str  # "docker.io", "ghcr.io", "localhost:5000"
    repository: str  # "library/debian"
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The fully qualified name without tag or digest: ``docker.io/library/debian``."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The name as ``docker`` prints it: ``debian``, ``user/app``, ``ghcr.io/o/r``."""
        if self.registry == DEFAULT_REGISTRY:
            repo = self.repository
            if repo.startswith(OFFICIAL_PREFIX) and repo.count("/") == 1:
                return repo[len(OFFICIAL_PREFIX) :]
            return repo
        return self.name

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def canonical(self) -> str:
        """``docker.io/library/debian:12``: fully qualified, with tag and/or digest."""
        return self.name + self._suffix()

    def __str__(self) -> str:
        """The familiar form: ``debian:12``, ``ghcr.io/o/r@sha256:…``."""
        return self.familiar_name + self._suffix()


@dataclass(frozen=True, slots=True)
class ImageRef:
    transport: str  # "oci" | "oci-archive" | "docker-archive" | "docker"
    path: str | None = None  # local transports: the directory or file
    tag: str | None = None  # oci/oci-archive tag, or docker-archive "repo:tag" (familiar form)
    digest: str | None = None  # oci:DIR@sha256:…
    docker: DockerReference | None = None  # transport "docker"; docker-archive's REPO:TAG
    index: int | None = None  # docker-archive:FILE:@N

    def __str__(self) -> str:
        """Canonical text that :func:`parse` reads back to an equal ``ImageRef``."""
        if self.transport == "docker":
            assert self.docker is not None
            return f"docker://{self.docker.canonical}"
        text = f"{self.transport}:{self.path}"
        if self.transport == "docker-archive":
            if self.docker is not None:
                return f"{text}:{self.docker.canonical}"
            if self.index is not None:
                return f"{text}:@{self.index}"
            return text
        if self.digest:
            return f"{text}@{self.digest}"
        if self.tag:
            return f"{text}:{self.tag}"
        return text


def validate_digest(digest: str, text: str | None = None) -> str:
    """Check ``algorithm:hex`` (sha256: 64 lowercase hex, sha512: 128); return it."""
    shown = text if text is not None else digest
    example = "sha256:" + "0" * 64
    if not _DIGEST_SYNTAX_RE.match(digest):
        raise _fail(shown, f"invalid digest {digest!r}", example)
    algo, _, hexpart = digest.partition(":")
    want = _DIGEST_HEX_LEN.get(algo)
    if want is None:
        raise _fail(shown, f"unsupported digest algorithm {algo!r} (use sha256 or sha512)", example)
    if len(hexpart) != want:
        raise _fail(shown, f"{algo} digest must have {want} hex digits, not {len(hexpart)}", example)
    if hexpart != hexpart.lower():
        raise _fail(shown, "digest hex must be lowercase", digest.lower())
    return digest


def _split_domain(name: str) -> tuple[str | None, str]:
    i = name.find("/")
    if i == -1:
        return None, name
    first = name[:i]
    if "." in first or ":" in first or first == "localhost" or first.lower() != first:
        return first, name[i + 1 :]
    return None, name


def parse_docker_reference(text: str) -> DockerReference:
    """Parse and normalise a docker reference (``debian`` → docker.io/library/debian:latest)."""
    if not isinstance(text, str) or not text:
        raise _fail(str(text), "empty image name", "debian:12")
    if text != text.strip() or any(c.isspace() for c in text):
        raise _fail(text, "image names contain no spaces", "debian:12")
    if len(text) > 4096:
        raise _fail(text[:40] + "…", "image name is too long", "debian:12")
    rest, digest = text, None
    if "@" in rest:
        rest, _, digest = rest.partition("@")
        if "@" in digest:
            raise _fail(text, "more than one '@'", "debian@sha256:<64 hex>")
        validate_digest(digest, text)
    tag = None
    colon, slash = rest.rfind(":"), rest.rfind("/")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG_RE.match(tag):
            if len(tag) > 128:
                raise _fail(text, f"tag is {len(tag)} characters, the maximum is 128", "debian:12")
            raise _fail(text, f"invalid tag {tag!r} (letters, digits, '_', '.', '-'; not starting with '.' or '-')", "debian:12")
    if not rest:
        raise _fail(text, "no repository name", "debian:12")
    if _IDENTIFIER_RE.match(rest) and tag is None:
        raise _fail(text, "a 64-hex-digit string is an image ID, not a name; use NAME@sha256:ID", "debian@sha256:<64 hex>")
    domain, path = _split_domain(rest)
    if domain is not None and not _DOMAIN_RE.match(domain):
        raise _fail(text, f"invalid registry host {domain!r}", "registry.example.com:5000/team/app:1.0")
    if not path:
        raise _fail(text, "no repository after the registry", "ghcr.io/owner/app:1.0")
    if not _PATH_RE.match(path):
        if _PATH_RE.match(path.lower()):
            raise _fail(text, f"repository name must be lowercase (try {rest.lower()!r})", "myuser/myapp:1.0")
        raise _fail(
            text,
            f"invalid repository name {path!r} (lowercase letters, digits and single '.', '_', '__' or '-' between them, '/' between components)",
            "myuser/my-app:1.0",
        )
    registry = domain or DEFAULT_REGISTRY
    if registry == LEGACY_REGISTRY:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = OFFICIAL_PREFIX + path
    full = f"{registry}/{path}"
    if len(full) > MAX_NAME_LENGTH:
        raise _fail(text, f"repository name is {len(full)} characters, the maximum is {MAX_NAME_LENGTH}", "myuser/myapp:1.0")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return DockerReference(registry, path, tag, digest)


def _split_oci(text: str, body: str, transport: str) -> ImageRef:
    example = f"{transport}:./layout:latest"
    if not body:
        raise _fail(text, f"{transport}: needs a path", example)
    if "@" in body:
        path, _, digest = body.rpartition("@")
        if ":" in digest and digest.split(":", 1)[0] in _DIGEST_HEX_LEN:
            if not path:
                raise _fail(text, f"{transport}: needs a path before '@'", f"{transport}:./layout@sha256:<64 hex>")
            return ImageRef(transport, path=path, digest=validate_digest(digest, text))
    path, tag = body, None
    if not os.path.lexists(body):
        head, sep, tail = body.rpartition(":")
        if sep and "/" not in tail:
            if not head:
                raise _fail(text, f"{transport}: needs a path before the tag", example)
            if tail:
                if not _OCI_TAG_RE.match(tail) or len(tail) > 128:
                    raise _fail(text, f"invalid tag {tail!r}", example)
                path, tag = head, tail
            else:
                path = head  # "oci:DIR:" means no tag
    return ImageRef(transport, path=path, tag=tag)


def _split_docker_archive(text: str, body: str) -> ImageRef:
    example = "docker-archive:./image.tar:myapp:1.0"
    if not body:
        raise _fail(text, "docker-archive: needs a file", example)
    if os.path.lexists(body):
        return ImageRef("docker-archive", path=body)
    colons = [i for i, c in enumerate(body) if c == ":"]
    if not colons:
        return ImageRef("docker-archive", path=body)
    cut = next((i for i in colons if os.path.isfile(body[:i])), colons[0])
    path, rest = body[:cut], body[cut + 1 :]
    if not path:
        raise _fail(text, "docker-archive: needs a file before the image name", example)
    if not rest:
        return ImageRef("docker-archive", path=path)
    if rest.startswith("@"):
        if not rest[1:].isdigit():
            raise _fail(text, f"'@' must be followed by an image number, not {rest[1:]!r}", "docker-archive:./image.tar:@0")
        return ImageRef("docker-archive", path=path, index=int(rest[1:]))
    ref = parse_docker_reference(rest)
    if ref.digest:
        raise _fail(text, "a docker-archive image is named by REPO:TAG, not a digest", example)
    return ImageRef("docker-archive", path=path, tag=f"{ref.familiar_name}:{ref.tag}", docker=ref)


def parse(text: str | ImageRef) -> ImageRef:
    """Parse an image name in skopeo's transport syntax (see the module docstring)."""
    if isinstance(text, ImageRef):
        return text
    if not isinstance(text, str) or not text.strip():
        raise _fail(str(text), "empty image name", "oci:./layout:latest or debian:12")
    if "\x00" in text or "\n" in text:
        raise _fail(text, "image names contain no NUL or newline", "oci:./layout:latest")
    transport, sep, body = text.partition(":")
    if sep:
        if transport in ("oci", "oci-archive"):
            return _split_oci(text, body, transport)
        if transport == "docker-archive":
            return _split_docker_archive(text, body)
        if transport == "docker":
            if not body.startswith("//"):
                raise _fail(text, "the docker transport is written docker://", "docker://debian:12")
            return ImageRef("docker", docker=parse_docker_reference(body[2:]))
        if transport in _OTHER_TRANSPORTS:
            raise BadReferenceError(
                f"image name {text!r}: transport {transport!r} is not supported; use one of "
                f"{', '.join(t + ':' for t in TRANSPORTS)} (for example skopeo copy {text} oci:./layout:latest)"
            )
    try:
        return ImageRef("docker", docker=parse_docker_reference(text))
    except BadReferenceError as err:
        hint = _local_hint(text, transport if sep else None)
        if hint is None:
            raise
        raise BadReferenceError(f"image name {text!r}: {hint}") from err


def _local_hint(text: str, transport: str | None) -> str | None:
    """Why an unparseable name was probably meant as a local image, or None.

    Only consulted after ``text`` failed as a docker reference, so valid names never change:
    a misspelt transport (``oci-arhive:``) or a bare path (``./image.tar``, ``/tmp/layout``).
    """
    import difflib

    if transport and "/" not in transport:
        close = difflib.get_close_matches(transport.lower(), TRANSPORTS + tuple(sorted(_OTHER_TRANSPORTS)), n=1, cutoff=0.6)
        if close:
            return (
                f"unknown transport {transport + ':'!r}; did you mean {close[0] + ':'!r}? "
                f"(transports: {', '.join(t + ':' for t in TRANSPORTS)})"
            )
    p = os.path.expanduser(text)
    looks_local = text.startswith(("/", "./", "../", "~")) or text in (".", "..") or text.endswith(
        (".tar", ".tar.gz", ".tgz", ".tar.zst")
    )
    if os.path.isdir(p):
        return f"a local directory needs a transport: use oci:{text} for an OCI image layout"
    if os.path.isfile(p) or looks_local:
        return (
            f"a local path needs a transport: use docker-archive:{text} for a 'docker save' tarball, "
            f"oci-archive:{text} for a tarred OCI layout, or oci:{text} for a layout directory"
        )
    return None

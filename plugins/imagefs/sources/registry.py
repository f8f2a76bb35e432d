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

Options of :func:`open_source`: ``creds``, ``insecure_registries``, ``tls_verify`` (the CLI's
``--creds``/``--insecure-registry``/``--tls-verify``), ``timeouts`` (:class:`Timeouts`:
connect 30 s, idle 60 s, total 1 h per request or blob), ``retry`` (:class:`RetryPolicy`:
5 tries per request or blob, backoff 0.5 s doubling to 30 s, ``Retry-After`` capped at
60 s) and ``document_cache``.

Not handled: ``HTTPS_PROXY``/``NO_PROXY``, client certificates (``certs.d``), registry
mirrors, and foreign-layer ``urls`` (such layers are fetched from the registry itself).
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from .. import media
from ..errors import (
    BadReferenceError,
    DigestMismatchError,
    InvalidImageError,
    RegistryError,
    UnsupportedError,
)
from ..reference import ImageRef
from ._auth import Credentials, RedactingFilter
from ._client import RegistryClient, digest_of, oneline
from ._http import NETWORK_ERRORS, Exchange, RetryPolicy, Timeouts
from .base import Descriptor, Source

log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())

__all__ = ["RegistryClient", "RegistrySource", "RetryPolicy", "Timeouts", "open_source"]

_CONFIG_TYPES = frozenset({media.OCI_CONFIG, media.DOCKER_CONFIG})


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
        ex = self.client.exchange(
            "GET", f"/blobs/{self.desc.digest}", self.deadline, self.what, headers
        )
        self.client.check(ex, self.what, ok=(200, 206))
        self.ex = ex
        size = self.desc.size
        skip = 0
        if ex.status == 206:
            m = re.match(
                r"bytes (\d+)-(\d+)/(\d+|\*)", ex.header("Content-Range") or ""
            )
            if not m or int(m.group(1)) != self.pos:
                raise RegistryError(
                    f"{self.what}: bad Content-Range {ex.header('Content-Range')!r} for a resume at {self.pos}",
                    temporary=True,
                )
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
                data = self.ex.read1(want)
                n = len(data)
                if not n:
                    raise http_incomplete()
                view[:n] = data
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
        if (
            self.failures >= self.client.retry.attempts
            or time.monotonic() + delay > self.deadline
        ):
            raise RegistryError(
                f"{self.what}: {oneline(str(err) or type(err).__name__, what=self.what)} at byte {self.pos} of {self.desc.size} "
                f"(gave up after {self.failures} tries)",
                temporary=True,
            ) from err
        log.warning(
            "%s: %s at byte %d; resuming in %.1fs",
            self.what,
            oneline(str(err) or type(err).__name__),
            self.pos,
            delay,
        )
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
    def default(cls) -> DocumentCache:
        """``documents/`` beside the engine's layer cache (``$IMAGEFS_CACHE_DIR`` …)."""
        from ..cache import default_cache_dir

        return cls(default_cache_dir() / "documents")

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
        return data if digest_of(data, digest.split(":")[0]) == digest else None

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
        self.name = f"{d.registry}/{d.repository}" + (
            f"@{d.digest}" if d.digest else f":{self.reference}"
        )
        self._docs: dict[str, bytes] = {}
        self.max_document = media.MAX_DOCUMENT_SIZE

    def root(self) -> Descriptor:
        what = f"{self.name}: manifest"
        want = self.ref.docker.digest if self.ref.docker else None

        def head(deadline: float) -> Descriptor | None:
            ex = self.client.exchange(
                "HEAD",
                f"/manifests/{self.reference}",
                deadline,
                what,
                {"Accept": media.ACCEPT_MANIFESTS},
            )
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
                raise DigestMismatchError(
                    f"{what}: the registry says {digest} for the requested {want}"
                )
            if (
                length is None
                or not (want or digest)
                or not (media.is_index(mt) or media.is_manifest(mt))
            ):
                return None
            self._check_size(length, what)
            return Descriptor(mt, want or digest or "", length)

        desc = self.client.call(what, head)
        if desc is not None:
            log.debug(
                "%s: HEAD gives %s (%s, %d bytes)",
                what,
                desc.digest,
                desc.media_type,
                desc.size,
            )
            return desc
        # Fall back to GET: the digest is the hash of the body we received.
        data, ex = self.client.get_document(
            f"/manifests/{self.reference}",
            what,
            self.max_document,
            media.ACCEPT_MANIFESTS,
        )
        algo = want.split(":")[0] if want else "sha256"
        digest = digest_of(data, algo)
        if want and digest != want:
            raise DigestMismatchError(
                f"{what}: the registry sent a manifest whose digest is {digest}, not the requested {want}"
            )
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
            raise InvalidImageError(
                f"{what}: the document is {size} bytes, over the {self.max_document}-byte cap"
            )

    def _document(
        self, desc: Descriptor, path: str, what: str, accept: str | None
    ) -> bytes:
        self._check_size(desc.size, what)
        data = self._docs.get(desc.digest) or self.documents.get(desc.digest)
        if data is None:
            data, _ = self.client.get_document(
                path, what, desc.size, accept, exact=True
            )
            actual = digest_of(data, desc.digest.split(":")[0])
            if actual != desc.digest:
                raise DigestMismatchError(
                    f"{what}: content digest is {actual}, expected {desc.digest}"
                )
            self.documents.put(desc.digest, data)
        self._docs[desc.digest] = data
        return data

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        what = f"{self.name}: manifest {desc.digest}"
        return self._document(
            desc, f"/manifests/{desc.digest}", what, media.ACCEPT_MANIFESTS
        )

    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        what = f"{self.name}: {'config' if desc.media_type in _CONFIG_TYPES else 'blob'} {desc.digest}"
        if desc.media_type in _CONFIG_TYPES or (
            desc.media_type.endswith("+json") and desc.size <= self.max_document
        ):
            return io.BytesIO(self._document(desc, f"/blobs/{desc.digest}", what, None))
        return io.BufferedReader(
            BlobReader(self.client, desc, what), buffer_size=256 * 1024
        )

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
        raise BadReferenceError(
            f"{ref!r}: not a registry reference (expected REGISTRY/REPOSITORY[:TAG|@DIGEST])"
        )
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

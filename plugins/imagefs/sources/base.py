"""The one image interface every source implements.

A source (OCI layout, docker archive, registry) provides only a small core,
:class:`Source`: the descriptor its reference names, the bytes of a manifest or index,
and a raw blob stream. Everything else is generic and lives here: walking an index to
the requested platform, verifying every document against its digest, pairing layers with
``diff_ids`` and history, and opening a verified, uncompressed layer stream.

This is the go-containerregistry split (``partial`` over ``remote``/``layout``/``tarball``).
"""

from __future__ import annotations

import abc
import json
import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import IO, Any, Callable

from .. import media
from ..errors import InvalidImageError, NotFoundError, UnsupportedError
from ..platform import Platform

log = logging.getLogger(__name__)

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$")


def check_digest(digest: Any, where: str) -> str:
    """Return ``digest`` if it is a well-formed sha256/sha512 digest, else raise.

    This rejects ``sha256:../../x`` and friends before a digest is ever used in a path.
    """
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise InvalidImageError(f"{where}: invalid digest {digest!r} (expected sha256:<64 hex>)")
    return digest


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor: what a blob is, its digest and its size."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: Platform | None = None
    annotations: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_json(cls, d: Any, where: str) -> "Descriptor":
        if not isinstance(d, dict):
            raise InvalidImageError(f"{where}: descriptor is not an object")
        size = d.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidImageError(f"{where}: descriptor size {size!r} is not a non-negative integer")
        mt = d.get("mediaType")
        if not isinstance(mt, str):
            raise InvalidImageError(f"{where}: descriptor has no mediaType")
        plat = d.get("platform")
        ann = d.get("annotations") or {}
        return cls(
            media_type=mt,
            digest=check_digest(d.get("digest"), where),
            size=size,
            urls=tuple(u for u in d.get("urls") or () if isinstance(u, str)),
            platform=Platform.from_json(plat) if isinstance(plat, dict) else None,
            annotations=tuple(sorted((str(k), str(v)) for k, v in ann.items())) if isinstance(ann, dict) else (),
        )

    def annotation(self, key: str) -> str | None:
        return dict(self.annotations).get(key)

    @property
    def short(self) -> str:
        return self.digest.split(":", 1)[1][:12]


@dataclass(slots=True)
class Limits:
    """Resource budgets for untrusted images. ``None`` disables a budget."""

    max_inflated_bytes: int | None = 64 * 1024**3
    max_inflate_ratio: int | None = 1000  # checked once more than 1 MiB was inflated
    max_entries: int | None = 5_000_000
    max_path_length: int | None = 4096
    max_path_depth: int | None = 1024
    max_symlink_hops: int = 40
    max_document_size: int = media.MAX_DOCUMENT_SIZE


class Source(abc.ABC):
    """The small core a source provides. ``name`` is how messages refer to it."""

    name: str

    @abc.abstractmethod
    def root(self) -> Descriptor:
        """The descriptor the reference names: a manifest or an index."""

    @abc.abstractmethod
    def fetch_manifest(self, desc: Descriptor) -> bytes:
        """The raw bytes of a manifest or index (unverified; at most ``desc.size`` + cap)."""

    @abc.abstractmethod
    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        """A raw (still compressed, unverified) stream of a blob's bytes."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections."""


def read_capped(f: IO[bytes], cap: int) -> bytes:
    """Read until EOF or ``cap`` bytes (raw streams may return short reads)."""
    parts, got = [], 0
    while got < cap:
        chunk = f.read(cap - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def parse_document(data: bytes, desc: Descriptor, source: Source, limits: Limits) -> dict:
    """Verify a manifest/index/config against its descriptor and parse it."""
    from ._blobs import verify_bytes

    where = f"{source.name} {desc.media_type.rsplit('.', 1)[-1]} {desc.digest}"
    if len(data) > limits.max_document_size:
        raise InvalidImageError(
            f"{where}: document is {len(data)} bytes, over the {limits.max_document_size}-byte cap"
        )
    verify_bytes(data, desc, where)
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidImageError(f"{where}: not valid JSON ({err})") from err
    if not isinstance(doc, dict):
        raise InvalidImageError(f"{where}: expected a JSON object")
    return doc


def document_kind(doc: dict, declared: str | None, where: str) -> str:
    """Tell an index from a manifest, refusing documents that claim to be both."""
    mt = doc.get("mediaType") or declared
    if mt in media.SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise UnsupportedError(
            f"{where}: Docker schema 1 manifests are not supported; re-push the image with a current Docker or skopeo"
        )
    has_manifests = "manifests" in doc
    has_layers = "layers" in doc or "config" in doc
    if has_manifests and has_layers:
        raise InvalidImageError(f"{where}: document has both 'manifests' and 'layers' (media-type confusion)")
    if media.is_index(mt) or (mt is None and has_manifests):
        if not has_manifests:
            raise InvalidImageError(f"{where}: index without 'manifests'")
        return "index"
    if media.is_manifest(mt) or (mt is None and has_layers):
        if has_manifests:
            raise InvalidImageError(f"{where}: manifest media type but holds 'manifests'")
        return "manifest"
    raise UnsupportedError(f"{where}: unsupported media type {mt!r}")


class Layer:
    """One layer: its descriptor, diff_id, history line, and a verified uncompressed stream."""

    def __init__(self, image: "Image", index: int, desc: Descriptor, diff_id: str | None, created_by: str | None):
        self.image = image
        self.index = index
        self.descriptor = desc
        self.diff_id = diff_id
        self.created_by = created_by

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def cache_key(self) -> str:
        """What the layer-index cache is keyed by: the uncompressed digest when known."""
        return self.diff_id or self.descriptor.digest

    def describe(self) -> str:
        return f"layer {self.index} ({self.descriptor.digest}) of {self.image.reference}"

    def open(self, progress: Callable[[int], Any] | None = None) -> IO[bytes]:
        """The uncompressed tar stream, verified as it is read.

        ``progress(n)`` is called with the number of compressed bytes consumed.

        The blob digest and the ``diff_id`` are checked when the stream reaches EOF; the
        reader must drain it (past the tar end marker) and close it. A mismatch raises
        :class:`~imagefs.errors.DigestMismatchError` naming this layer.
        """
        from ._blobs import open_layer_stream

        raw = self.image.source.open_blob(self.descriptor)
        return open_layer_stream(raw, self.descriptor, self.diff_id, self.describe(), self.image.limits, progress)


class Image:
    """A resolved single-platform image: manifest, config and layers (base first)."""

    def __init__(
        self,
        source: Source,
        reference: str,
        desc: Descriptor,
        manifest: dict,
        limits: Limits,
        index_digest: str | None = None,
    ):
        self.source = source
        self.reference = reference
        self.descriptor = desc
        self.manifest = manifest
        self.limits = limits
        self.index_digest = index_digest

    @property
    def manifest_digest(self) -> str:
        return self.descriptor.digest

    @property
    def media_type(self) -> str:
        return self.manifest.get("mediaType") or self.descriptor.media_type

    @cached_property
    def config_descriptor(self) -> Descriptor:
        return Descriptor.from_json(self.manifest.get("config"), f"{self.reference} manifest config")

    @cached_property
    def config(self) -> dict:
        desc = self.config_descriptor
        with self.source.open_blob(desc) as f:
            data = read_capped(f, self.limits.max_document_size + 1)
        return parse_document(data, desc, self.source, self.limits)

    @cached_property
    def platform(self) -> Platform:
        c = self.config
        return Platform(
            os=str(c.get("os") or "unknown"),
            architecture=str(c.get("architecture") or "unknown"),
            variant=c.get("variant") if isinstance(c.get("variant"), str) else None,
        )

    def layers(self) -> list[Layer]:
        """The layers, base first, each paired with its diff_id and ``created_by``."""
        raw = self.manifest.get("layers")
        if not isinstance(raw, list):
            raise InvalidImageError(f"{self.reference}: manifest {self.manifest_digest} has no 'layers' list")
        descs = [Descriptor.from_json(d, f"{self.reference} layer {i}") for i, d in enumerate(raw)]
        rootfs = self.config.get("rootfs") or {}
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list):
            raise InvalidImageError(f"{self.reference}: config {self.config_descriptor.digest} has no rootfs.diff_ids")
        if len(diff_ids) != len(descs):
            raise InvalidImageError(
                f"{self.reference}: manifest lists {len(descs)} layers but the config has {len(diff_ids)} diff_ids"
            )
        for i, d in enumerate(diff_ids):
            check_digest(d, f"{self.reference} diff_id {i}")
        history = [h for h in self.config.get("history") or () if isinstance(h, dict) and not h.get("empty_layer")]
        created = [h.get("created_by") for h in history] if len(history) == len(descs) else [None] * len(descs)
        return [Layer(self, i, d, diff_ids[i], created[i]) for i, d in enumerate(descs)]

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Resolution:
    """How a reference resolved: the chain of index digests walked to the manifest."""

    indexes: list[str] = field(default_factory=list)
    available: list[str] = field(default_factory=list)


def resolve(source: Source, reference: str, platform: Platform | None, limits: Limits) -> Image:
    """Walk from the source's root descriptor to one platform's manifest."""
    from ..platform import select

    desc = source.root()
    seen: set[str] = set()
    index_digest = None
    while True:
        if desc.digest in seen:
            raise InvalidImageError(f"{reference}: index {desc.digest} refers to itself (a cycle)")
        seen.add(desc.digest)
        if len(seen) > 8:
            raise InvalidImageError(f"{reference}: more than 8 nested indexes")
        data = source.fetch_manifest(desc)
        doc = parse_document(data, desc, source, limits)
        where = f"{reference} ({desc.digest})"
        kind = document_kind(doc, desc.media_type, where)
        if kind == "manifest":
            image = Image(source, reference, desc, doc, limits, index_digest)
            if platform is not None and index_digest is None:
                _check_single_platform(image, platform, where)
            return image
        manifests = doc.get("manifests")
        if not isinstance(manifests, list):
            raise InvalidImageError(f"{where}: 'manifests' is not a list")
        children = [Descriptor.from_json(m, f"{where} manifests[{i}]") for i, m in enumerate(manifests)]
        index_digest = index_digest or desc.digest
        desc = select(children, platform, where)


def _check_single_platform(image: Image, want: Platform, where: str) -> None:
    """An explicit ``--platform`` that a single-platform image does not have is an error.

    Only the OS and architecture are compared (and the variant when both sides name one),
    so a config without a variant still matches ``linux/arm64/v8``.
    """
    have = image.platform
    if have.os == "unknown" or have.architecture == "unknown":
        return
    a, b = have.normalized(), want.normalized()
    if a.os == b.os and a.architecture == b.architecture and (not have.variant or not want.variant or a.variant == b.variant):
        return
    raise NotFoundError(
        f"{where}: is a single-platform image for {have}, not {want}; "
        f"drop --platform or use --platform {have}"
    )

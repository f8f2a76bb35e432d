"""``docker save`` archives: ``docker-archive:FILE[:REPO:TAG|:@N]``, ``.tar`` or ``.tar.gz``.

Two layouts exist:

* **Classic** (Docker before 25, skopeo): ``manifest.json`` lists images as
  ``{"Config": "<hex>.json", "RepoTags": [...], "Layers": ["<id>/layer.tar", ...]}``.
  There is no manifest blob, so imagefs *synthesises* a Docker v2 image manifest from
  the config and the layer files (config digest = sha256 of the config file; a layer's
  digest is its blob path's digest when it lives in ``blobs/``, else its diff_id when the
  layer tar is uncompressed, else the sha256 of the file). The synthetic manifest is
  canonical JSON (sorted keys, no spaces), so **its digest is stable** for the same
  archive content, but it is not a digest any registry knows.
* **Docker 25+**: an OCI image layout (``oci-layout``, ``index.json``, ``blobs/``) plus
  the classic ``manifest.json``. imagefs reads the layout, so the manifest digest is the
  real one; ``REPO:TAG`` is matched against the ``io.containerd.image.name`` annotation,
  and an image only ``manifest.json`` can name falls back to a synthesised manifest.

Image selection: ``:REPO:TAG`` (compared after normalisation, ``app:1`` ==
``docker.io/library/app:1``), ``:@N`` (the N-th entry of ``manifest.json``), or nothing
when the archive holds exactly one image. Members are read out of the tar by offset and
never written to disk (see :mod:`._archive`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import IO, Any

from .. import media
from ..errors import BadReferenceError, InvalidImageError, NotFoundError
from ..oci_writer import canonical_json
from ..reference import DockerReference, ImageRef, parse_docker_reference
from ._archive import TarArchive
from ._blobs import sniff
from .base import Descriptor, Source, check_digest
from .oci_layout import ArchiveStore, LayoutSource

CONTAINERD_NAME = "io.containerd.image.name"
_BLOB_PATH = re.compile(r"^blobs/(sha256|sha512)/([a-f0-9]+)$")
_LAYER_TYPES = {"none": media.DOCKER_LAYER, "gzip": media.DOCKER_LAYER_GZIP, "zstd": media.OCI_LAYER_ZSTD}


def _same(a: DockerReference, b: DockerReference) -> bool:
    return (a.registry, a.repository, a.tag) == (b.registry, b.repository, b.tag)


def _parse_tag(text: Any) -> DockerReference | None:
    if not isinstance(text, str):
        return None
    try:
        return parse_docker_reference(text)
    except BadReferenceError:
        return None


class ClassicSource(Source):
    """One image of a classic ``manifest.json``, with a synthesised manifest."""

    def __init__(self, archive: TarArchive, name: str, entry: dict, number: int):
        self.archive = archive
        self.name = name
        where = f"{name} manifest.json[{number}]"
        config_path = entry.get("Config")
        layers = entry.get("Layers")
        if not isinstance(config_path, str) or not isinstance(layers, list) or not all(isinstance(p, str) for p in layers):
            raise InvalidImageError(f"{where}: entry needs a 'Config' path and a 'Layers' list")
        config = archive.read(config_path, media.MAX_DOCUMENT_SIZE)
        if config is None:
            raise NotFoundError(f"{where}: config {config_path!r} is missing from the archive")
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self._paths: dict[str, str] = {config_digest: config_path}
        try:
            diff_ids = json.loads(config).get("rootfs", {}).get("diff_ids")
        except (ValueError, AttributeError) as err:
            raise InvalidImageError(f"{where}: config {config_path!r} is not a JSON object ({err})") from err
        if not isinstance(diff_ids, list):
            diff_ids = []
        layer_descs = []
        for i, path in enumerate(layers):
            size = archive.size(path)
            if size is None:
                raise NotFoundError(f"{where}: layer {path!r} is missing from the archive")
            kind = sniff(archive.head(path))
            digest = self._layer_digest(path, kind, diff_ids[i] if i < len(diff_ids) else None, f"{where} layer {i}")
            self._paths.setdefault(digest, path)
            layer_descs.append({"mediaType": _LAYER_TYPES[kind], "digest": digest, "size": size})
        manifest = {
            "schemaVersion": 2,
            "mediaType": media.DOCKER_MANIFEST,
            "config": {"mediaType": media.DOCKER_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": layer_descs,
        }
        self.manifest = canonical_json(manifest)
        self.digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    def _layer_digest(self, path: str, kind: str, diff_id: Any, where: str) -> str:
        m = _BLOB_PATH.match(path.lstrip("./"))
        if m:
            return check_digest(f"{m.group(1)}:{m.group(2)}", where)
        if kind == "none" and isinstance(diff_id, str):
            return check_digest(diff_id, where)
        # A compressed layer outside blobs/: hash it once to know its digest.
        h = hashlib.sha256()
        f = self.archive.open(path)
        assert f is not None
        with f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return "sha256:" + h.hexdigest()

    def root(self) -> Descriptor:
        return Descriptor(media.DOCKER_MANIFEST, self.digest, len(self.manifest))

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        if desc.digest != self.digest:
            raise NotFoundError(f"{self.name}: no manifest {desc.digest} in the archive")
        return self.manifest

    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        path = self._paths.get(desc.digest)
        f = self.archive.open(path) if path is not None else None
        if f is None:
            raise NotFoundError(f"{self.name}: blob {desc.digest} is missing from the archive")
        return f

    def close(self) -> None:
        self.archive.close()


def _describe(entries: list[dict]) -> str:
    names = []
    for i, e in enumerate(entries):
        tags = e.get("RepoTags") if isinstance(e.get("RepoTags"), list) else None
        names.append(", ".join(str(t) for t in tags) if tags else f"@{i} (untagged)")
    return "; ".join(names)


def _read_manifest_json(archive: TarArchive, name: str) -> list[dict] | None:
    data = archive.read("manifest.json", media.MAX_DOCUMENT_SIZE)
    if data is None:
        return None
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise InvalidImageError(f"{name}: manifest.json is not valid JSON ({err})") from err
    if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
        raise InvalidImageError(f"{name}: manifest.json is not a list of images")
    return doc


def _pick_entry(entries: list[dict], ref: ImageRef, name: str) -> int | None:
    """The manifest.json entry ``ref`` names, or None when it names none explicitly."""
    if ref.index is not None:
        if ref.index >= len(entries):
            raise NotFoundError(f"{name}: the archive holds {len(entries)} image(s); @{ref.index} is out of range")
        return ref.index
    if ref.docker is not None:
        for i, e in enumerate(entries):
            for t in e.get("RepoTags") or ():
                parsed = _parse_tag(t)
                if parsed is not None and _same(parsed, ref.docker):
                    return i
        raise NotFoundError(f"{name}: no image tagged {ref.tag!r}; the archive holds: {_describe(entries)}")
    return None


def _layout_root_for(layout: LayoutSource, ref: ImageRef, entry: dict | None) -> Descriptor | None:
    """The index.json descriptor for the image ``ref``/``entry`` names, if the layout has it."""
    index = layout.index
    if ref.docker is not None:
        for i, m in enumerate(index):
            ann = m.get("annotations") if isinstance(m.get("annotations"), dict) else {}
            parsed = _parse_tag(ann.get(CONTAINERD_NAME))
            if parsed is not None and _same(parsed, ref.docker):
                return Descriptor.from_json(m, f"{layout.name} index.json manifests[{i}]")
    if entry is not None and isinstance(entry.get("Config"), str):
        m = _BLOB_PATH.match(entry["Config"].lstrip("./"))
        if m:
            want = f"{m.group(1)}:{m.group(2)}"
            for i, d in enumerate(index):
                if d.get("mediaType") not in media.MANIFEST_TYPES:
                    continue
                desc = Descriptor.from_json(d, f"{layout.name} index.json manifests[{i}]")
                try:
                    doc = json.loads(layout.fetch_manifest(desc))
                except (ValueError, NotFoundError):
                    continue
                if isinstance(doc, dict) and (doc.get("config") or {}).get("digest") == want:
                    return desc
    if ref.docker is None and ref.index is None and len(index) == 1:
        return Descriptor.from_json(index[0], f"{layout.name} index.json manifests[0]")
    return None


class _PinnedLayout(LayoutSource):
    """A layout whose root is already chosen."""

    def __init__(self, layout: LayoutSource, root: Descriptor):
        self.__dict__.update(layout.__dict__)
        self._root = root

    def root(self) -> Descriptor:
        return self._root


def open_source(ref: ImageRef, **_ignored: Any) -> Source:
    """The source for a ``docker-archive:`` reference (classic or Docker 25+ layout)."""
    name = str(ref)
    assert ref.path is not None
    archive = TarArchive(ref.path, name)
    try:
        entries = _read_manifest_json(archive, name)
        has_layout = "oci-layout" in archive and "index.json" in archive
        if entries is None and not has_layout:
            raise InvalidImageError(f"{name}: not a docker save archive (no manifest.json or index.json)")
        chosen = None
        if has_layout:
            layout = LayoutSource(ArchiveStore(archive), name)
            root = _layout_root_for(layout, ref, None) if ref.docker is not None else None
            if root is None:
                chosen = _pick_entry(entries, ref, name) if entries else None
                root = _layout_root_for(layout, ref, entries[chosen] if entries and chosen is not None else None)
            if root is not None:
                return _PinnedLayout(layout, root)
            if not entries:
                tags = layout.tags()
                raise NotFoundError(
                    f"{name}: the archive's index.json holds {len(layout.index)} images; name one with :REPO:TAG"
                    + (f" (tags: {', '.join(tags)})" if tags else "")
                )
        elif entries:
            chosen = _pick_entry(entries, ref, name)
        assert entries is not None
        if chosen is None:
            if len(entries) != 1:
                raise NotFoundError(
                    f"{name}: the archive holds {len(entries)} images; name one with "
                    f"docker-archive:FILE:REPO:TAG or :@N ({_describe(entries) or 'none'})"
                )
            chosen = 0
        return ClassicSource(archive, name, entries[chosen], chosen)
    except BaseException:
        archive.close()
        raise

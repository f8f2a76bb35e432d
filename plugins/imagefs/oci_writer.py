"""Write images: reproducible layer tars, OCI layouts and ``docker save`` archives.

Used by the example-image recipes and by the tests' fixture builders. Output is
byte-for-byte reproducible: entries in the order given (callers sort), fixed mtimes,
fixed owners, gzip with no file name and no timestamp, and JSON with sorted keys.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import media
from .platform import Platform


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class TarMember:
    """One tar member to write. ``type`` is one of imagefs's entry types."""

    name: str
    type: str = "file"
    data: bytes = b""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    linkname: str = ""
    xattrs: dict[str, str] = field(default_factory=dict)
    devmajor: int = 0
    devminor: int = 0
    uname: str = ""
    gname: str = ""


# imagefs entry type -> tarfile type, and back (the inverse also reads old-style '\0' files).
ENTRY_TO_TAR = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}
TAR_TO_ENTRY = {tar: entry for entry, tar in ENTRY_TO_TAR.items()} | {tarfile.AREGTYPE: "file"}


def make_layer_tar(members: Iterable[TarMember], *, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar of ``members`` in the given order, with the end-of-archive marker."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.type = ENTRY_TO_TAR[m.type]
            info.mode = m.mode if m.mode is not None else (0o755 if m.type == "dir" else 0o644)
            info.uid, info.gid = m.uid, m.gid
            info.uname, info.gname = m.uname, m.gname
            info.mtime = m.mtime
            info.linkname = m.linkname
            info.devmajor, info.devminor = m.devmajor, m.devminor
            if m.xattrs:
                info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in m.xattrs.items()}
            if m.type == "file":
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
            else:
                tf.addfile(info)
    return buf.getvalue()


def compress(data: bytes, compression: str = "gzip") -> bytes:
    """Compress a layer reproducibly: gzip with mtime 0 and no name, or zstd, or none."""
    if compression == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
            gz.write(data)
        return out.getvalue()
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


_LAYER_MEDIA = {"gzip": media.OCI_LAYER_GZIP, "zstd": media.OCI_LAYER_ZSTD, "none": media.OCI_LAYER}


@dataclass
class ImageSpec:
    """An image to write: uncompressed layer tars, base first, and its config details."""

    layers: list[bytes]
    compression: str = "gzip"
    platform: Platform = field(default_factory=lambda: Platform("linux", "amd64"))
    created: str = "1970-01-01T00:00:00Z"
    created_by: list[str] | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the "config" object (Env, Cmd, User...)
    annotations: dict[str, str] = field(default_factory=dict)
    # Escape hatches for hostile fixtures: override media types or the computed documents.
    layer_media_type: str | None = None
    mutate_manifest: Any = None  # callable(dict) -> None
    mutate_config: Any = None  # callable(dict) -> None


@dataclass
class WrittenImage:
    manifest_digest: str
    manifest: bytes
    config: bytes
    blobs: dict[str, bytes]  # digest -> bytes, every blob including manifest and config
    platform: Platform


def build_image(spec: ImageSpec) -> WrittenImage:
    """Compute every blob of one image in memory (layers, config, manifest)."""
    blobs: dict[str, bytes] = {}
    layer_descs, diff_ids = [], []
    for tar_bytes in spec.layers:
        comp = compress(tar_bytes, spec.compression)
        d = sha256(comp)
        blobs[d] = comp
        diff_ids.append(sha256(tar_bytes))
        layer_descs.append(
            {"mediaType": spec.layer_media_type or _LAYER_MEDIA[spec.compression], "digest": d, "size": len(comp)}
        )
    created_by = spec.created_by or [f"layer {i}" for i in range(len(spec.layers))]
    config: dict[str, Any] = {
        "architecture": spec.platform.architecture,
        "os": spec.platform.os,
        "created": spec.created,
        "config": spec.config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": spec.created, "created_by": c} for c in created_by],
    }
    if spec.platform.variant:
        config["variant"] = spec.platform.variant
    if spec.mutate_config:
        spec.mutate_config(config)
    config_bytes = canonical_json(config)
    config_digest = sha256(config_bytes)
    blobs[config_digest] = config_bytes
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media.OCI_MANIFEST,
        "config": {"mediaType": media.OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layer_descs,
    }
    if spec.annotations:
        manifest["annotations"] = spec.annotations
    if spec.mutate_manifest:
        spec.mutate_manifest(manifest)
    manifest_bytes = canonical_json(manifest)
    manifest_digest = sha256(manifest_bytes)
    blobs[manifest_digest] = manifest_bytes
    return WrittenImage(manifest_digest, manifest_bytes, config_bytes, blobs, spec.platform)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _platform_json(p: Platform) -> dict[str, str]:
    d = {"architecture": p.architecture, "os": p.os}
    if p.variant:
        d["variant"] = p.variant
    return d


def write_oci_layout(
    directory: str | os.PathLike[str],
    images: list[WrittenImage],
    *,
    tag: str | None = "latest",
    as_index: bool | None = None,
) -> str:
    """Write an OCI image layout holding ``images``; return the digest ``index.json`` names.

    One image is referenced directly from ``index.json`` unless ``as_index`` is true; several
    images are grouped in a nested image index (multi-arch), which ``index.json`` names.
    Existing blobs in the layout are kept, so several tags can share one layout.
    """
    root = Path(directory)
    blobs_dir = root / "blobs" / "sha256"
    blobs_dir.mkdir(parents=True, exist_ok=True)
    for img in images:
        for digest, data in img.blobs.items():
            p = blobs_dir / digest.split(":", 1)[1]
            if not p.exists():
                _atomic_write(p, data)
    if as_index is None:
        as_index = len(images) > 1
    if as_index:
        index = {
            "schemaVersion": 2,
            "mediaType": media.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": media.OCI_MANIFEST,
                    "digest": img.manifest_digest,
                    "size": len(img.manifest),
                    "platform": _platform_json(img.platform),
                }
                for img in images
            ],
        }
        index_bytes = canonical_json(index)
        top = {"mediaType": media.OCI_INDEX, "digest": sha256(index_bytes), "size": len(index_bytes)}
        _atomic_write(blobs_dir / top["digest"].split(":", 1)[1], index_bytes)
    else:
        (img,) = images
        top = {"mediaType": media.OCI_MANIFEST, "digest": img.manifest_digest, "size": len(img.manifest)}
    if tag:
        top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index_path = root / "index.json"
    manifests = []
    if index_path.exists():
        old = json.loads(index_path.read_bytes())
        manifests = [
            m
            for m in old.get("manifests", [])
            if not tag or (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") != tag
        ]
    manifests.append(top)
    _atomic_write(root / "oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"}))
    _atomic_write(index_path, canonical_json({"schemaVersion": 2, "mediaType": media.OCI_INDEX, "manifests": manifests}))
    return top["digest"]


def write_docker_archive(
    path: str | os.PathLike[str],
    image: WrittenImage,
    *,
    repo_tags: list[str] | None = None,
    oci_inside: bool = False,
    gzip_outer: bool = False,
) -> None:
    """Write a ``docker save`` tarball of one image.

    Classic layout (``oci_inside=False``): ``manifest.json``, ``<config>.json`` and
    ``<id>/layer.tar`` (uncompressed). Docker 25+ layout (``oci_inside=True``): an OCI layout
    (``oci-layout``, ``index.json``, ``blobs/sha256/…``) plus a ``manifest.json`` whose paths
    point into ``blobs/``.
    """
    manifest = json.loads(image.manifest)
    members: list[tuple[str, bytes]] = []
    cfg_hex = manifest["config"]["digest"].split(":", 1)[1]
    layer_paths: list[str] = []
    if oci_inside:
        for digest, data in sorted(image.blobs.items()):
            members.append((f"blobs/sha256/{digest.split(':', 1)[1]}", data))
        layer_paths = [f"blobs/sha256/{d['digest'].split(':', 1)[1]}" for d in manifest["layers"]]
        config_path = f"blobs/sha256/{cfg_hex}"
        index = {
            "schemaVersion": 2,
            "mediaType": media.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": media.OCI_MANIFEST,
                    "digest": image.manifest_digest,
                    "size": len(image.manifest),
                    "annotations": {"io.containerd.image.name": (repo_tags or ["imagefs/test:latest"])[0]},
                }
            ],
        }
        members.append(("index.json", canonical_json(index)))
        members.append(("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})))
    else:
        config_path = f"{cfg_hex}.json"
        members.append((config_path, image.config))
        for d in manifest["layers"]:
            blob = image.blobs[d["digest"]]
            tar_bytes = _decompress_any(blob)
            layer_id = hashlib.sha256(tar_bytes).hexdigest()
            p = f"{layer_id}/layer.tar"
            members.append((p, tar_bytes))
            layer_paths.append(p)
    top = [{"Config": config_path, "RepoTags": repo_tags or None, "Layers": layer_paths}]
    members.append(("manifest.json", canonical_json(top)))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        seen_dirs: set[str] = set()
        for name, data in members:
            parent = name.rpartition("/")[0]
            parts = parent.split("/") if parent else []
            for i in range(len(parts)):
                d = "/".join(parts[: i + 1])
                if d not in seen_dirs:
                    seen_dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tf.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    data = buf.getvalue()
    _atomic_write(Path(path), compress(data, "gzip") if gzip_outer else data)


def _decompress_any(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(blob)
    return blob

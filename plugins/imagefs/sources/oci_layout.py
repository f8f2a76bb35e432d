"""OCI image layouts: ``oci:DIR[:TAG|@DIGEST]`` and ``oci-archive:FILE[:TAG]``.

A layout is ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json`` and
``blobs/<algorithm>/<hex>``. The image is chosen from ``index.json``:

* ``:TAG`` picks the entry whose ``org.opencontainers.image.ref.name`` is TAG (a missing
  tag lists the tags there are);
* ``@DIGEST`` picks the entry with that digest, or any manifest/index blob of the layout;
* with neither, the only entry; several entries is an error that lists their tags.

``oci-archive:`` is a tar of a layout; its blobs are read straight out of the tar by
offset (see :mod:`._archive`), never extracted. The same :class:`LayoutSource` serves
the OCI layout that Docker 25+ puts inside ``docker save`` archives.

Blob paths are built only from validated digests (``sha256:<64 hex>``), so a descriptor
such as ``sha256:../../x`` never reaches the filesystem.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any, Protocol

from .. import media
from ..errors import ImagefsError, InvalidImageError, NotFoundError, UnsupportedError
from ..reference import ImageRef
from ._archive import TarArchive
from .base import Descriptor, Source, check_digest, read_capped

REF_NAME = "org.opencontainers.image.ref.name"
INDEX_CAP = media.MAX_DOCUMENT_SIZE


class Store(Protocol):
    """Where a layout's files live: a directory or a tar archive."""

    def read(self, name: str, cap: int) -> bytes | None: ...

    def open(self, name: str) -> IO[bytes] | None: ...

    def size(self, name: str) -> int | None: ...

    def close(self) -> None: ...


class DirStore:
    """A layout directory. Names are relative paths built by this module only."""

    def __init__(self, root: str | os.PathLike[str], where: str):
        self.root = Path(root)
        self.where = where
        if not self.root.exists():
            raise NotFoundError(f"{where}: no such directory {str(self.root)!r}")
        if not self.root.is_dir():
            raise InvalidImageError(
                f"{where}: {str(self.root)!r} is not a directory (for a tarred layout use oci-archive:)"
            )

    def _path(self, name: str) -> Path:
        return self.root / name

    def size(self, name: str) -> int | None:
        try:
            st = self._path(name).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size

    def read(self, name: str, cap: int) -> bytes | None:
        f = self.open(name)
        if f is None:
            return None
        with f:
            data = read_capped(f, cap + 1)
        if len(data) > cap:
            raise InvalidImageError(f"{self.where}: {name} is over the {cap}-byte cap for a document")
        return data

    def open(self, name: str) -> IO[bytes] | None:
        try:
            return open(self._path(name), "rb", buffering=0)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except IsADirectoryError as err:
            raise InvalidImageError(f"{self.where}: {name} is a directory") from err
        except OSError as err:
            raise ImagefsError(f"{self.where}: cannot read {name}: {err.strerror}") from err

    def close(self) -> None:
        pass


def blob_name(digest: str, where: str) -> str:
    """``blobs/<algorithm>/<hex>`` for a validated digest."""
    algo, _, hexpart = check_digest(digest, where).partition(":")
    return f"blobs/{algo}/{hexpart}"


def _tag_of(d: dict) -> str | None:
    ann = d.get("annotations")
    if isinstance(ann, dict) and isinstance(ann.get(REF_NAME), str):
        return ann[REF_NAME]
    return None


class LayoutSource(Source):
    """An OCI image layout in a :class:`Store`, with the image chosen by tag or digest."""

    def __init__(self, store: Store, name: str, *, tag: str | None = None, digest: str | None = None):
        self.store = store
        self.name = name
        self.tag = tag
        self.digest = digest
        self._check_layout_file()
        self.index = self._read_index()

    def _check_layout_file(self) -> None:
        data = self.store.read("oci-layout", 64 * 1024)
        if data is None:
            raise InvalidImageError(
                f"{self.name}: not an OCI image layout (no oci-layout file); make one with "
                f"skopeo copy IMAGE oci:DIR:TAG"
            )
        try:
            doc = json.loads(data)
            version = doc["imageLayoutVersion"]
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidImageError(f"{self.name}: oci-layout is not valid ({err})") from err
        if not isinstance(version, str) or not version.startswith("1."):
            raise UnsupportedError(f"{self.name}: OCI layout version {version!r} is not supported (only 1.x)")

    def _read_index(self) -> list[dict]:
        data = self.store.read("index.json", INDEX_CAP)
        if data is None:
            raise InvalidImageError(f"{self.name}: OCI layout has no index.json")
        try:
            doc = json.loads(data)
        except ValueError as err:
            raise InvalidImageError(f"{self.name}: index.json is not valid JSON ({err})") from err
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests"), list):
            raise InvalidImageError(f"{self.name}: index.json has no 'manifests' list")
        if "layers" in doc or "config" in doc:
            raise InvalidImageError(f"{self.name}: index.json holds 'layers' (media-type confusion)")
        entries = [m for m in doc["manifests"] if isinstance(m, dict)]
        return entries

    def tags(self) -> list[str]:
        return sorted({t for t in (_tag_of(m) for m in self.index) if t is not None})

    def root(self) -> Descriptor:
        where = f"{self.name} index.json"
        if self.digest is not None:
            for i, m in enumerate(self.index):
                if m.get("digest") == self.digest:
                    return Descriptor.from_json(m, f"{where} manifests[{i}]")
            return self._descriptor_for_blob(self.digest)
        if self.tag is not None:
            for i, m in enumerate(self.index):
                if _tag_of(m) == self.tag:
                    return Descriptor.from_json(m, f"{where} manifests[{i}]")
            tags = self.tags()
            raise NotFoundError(
                f"{self.name}: no image tagged {self.tag!r}; "
                + (f"tags: {', '.join(tags)}" if tags else "the layout has no tagged images")
            )
        if len(self.index) == 1:
            return Descriptor.from_json(self.index[0], f"{where} manifests[0]")
        if not self.index:
            raise NotFoundError(f"{self.name}: the layout's index.json lists no images")
        tags = self.tags()
        raise NotFoundError(
            f"{self.name}: the layout holds {len(self.index)} images; name one with :TAG or @DIGEST"
            + (f" (tags: {', '.join(tags)})" if tags else "")
        )

    def _descriptor_for_blob(self, digest: str) -> Descriptor:
        """``@DIGEST`` of a blob that index.json does not list (a child manifest)."""
        name = blob_name(digest, self.name)
        size = self.store.size(name)
        if size is None:
            raise NotFoundError(f"{self.name}: no manifest or index {digest} in the layout")
        data = self.store.read(name, INDEX_CAP)
        assert data is not None
        try:
            doc = json.loads(data)
        except ValueError as err:
            raise InvalidImageError(f"{self.name}: blob {digest} is not a manifest or index ({err})") from err
        mt = doc.get("mediaType") if isinstance(doc, dict) else None
        if not isinstance(mt, str):
            mt = media.OCI_INDEX if isinstance(doc, dict) and "manifests" in doc else media.OCI_MANIFEST
        return Descriptor(mt, digest, size)

    def fetch_manifest(self, desc: Descriptor) -> bytes:
        if desc.size > INDEX_CAP:
            raise InvalidImageError(
                f"{self.name}: manifest {desc.digest} is {desc.size} bytes, over the {INDEX_CAP}-byte cap"
            )
        data = self.store.read(blob_name(desc.digest, self.name), INDEX_CAP)
        if data is None:
            raise NotFoundError(f"{self.name}: manifest blob {desc.digest} is missing from the layout")
        return data

    def open_blob(self, desc: Descriptor) -> IO[bytes]:
        f = self.store.open(blob_name(desc.digest, self.name))
        if f is not None:
            return f
        if desc.urls:
            raise UnsupportedError(
                f"{self.name}: foreign layer {desc.digest} (from {desc.urls[0]}) was not fetched; "
                f"copy the image with skopeo copy --preserve-digests to include it"
            )
        raise NotFoundError(f"{self.name}: blob {desc.digest} is missing from the layout")

    def close(self) -> None:
        self.store.close()


class ArchiveStore:
    """A layout inside a tar archive (``oci-archive:``, Docker 25+ ``docker save``)."""

    def __init__(self, archive: TarArchive, prefix: str = ""):
        self.archive = archive
        self.prefix = prefix

    def read(self, name: str, cap: int) -> bytes | None:
        return self.archive.read(self.prefix + name, cap)

    def open(self, name: str) -> IO[bytes] | None:
        return self.archive.open(self.prefix + name)

    def size(self, name: str) -> int | None:
        return self.archive.size(self.prefix + name)

    def close(self) -> None:
        self.archive.close()


def open_source(ref: ImageRef, **_ignored: Any) -> Source:
    """The :class:`LayoutSource` for an ``oci:`` or ``oci-archive:`` reference."""
    name = str(ref)
    assert ref.path is not None
    if ref.transport == "oci":
        store: Store = DirStore(ref.path, name)
    elif ref.transport == "oci-archive":
        store = ArchiveStore(TarArchive(ref.path, name))
    else:  # pragma: no cover - dispatch error
        raise ValueError(ref.transport)
    try:
        return LayoutSource(store, name, tag=ref.tag, digest=ref.digest)
    except BaseException:
        store.close()
        raise

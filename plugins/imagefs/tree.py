"""The merged filesystem of an image: :class:`Entry`, :class:`Tree` and the image metadata.

This is the one data model every other part reads. The merge produces a ``Tree``;
renderers, the snapshot store, the fence and the extractor consume it. A ``Tree``
round-trips losslessly through the JSON v1 document (:meth:`Tree.to_json`,
:meth:`Tree.from_json`), which is what snapshots store.

Paths are absolute and normalised (``/etc/passwd``); the root ``/`` is implicit and is
not an entry. Names are ``str``; bytes that are not valid UTF-8 are carried as lone
surrogates (PEP 383 ``surrogateescape``), so ``path.encode("utf-8", "surrogateescape")``
gives back the bytes stored in the layer.

All tree operations are iterative: a 10,000-deep path does not hit the recursion limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

SCHEMA_VERSION = 1

FILE = "file"
DIR = "dir"
SYMLINK = "symlink"
HARDLINK = "hardlink"
CHAR = "char"
BLOCK = "block"
FIFO = "fifo"
ENTRY_TYPES = (FILE, DIR, SYMLINK, HARDLINK, CHAR, BLOCK, FIFO)

CAPABILITY_XATTR = "security.capability"


@dataclass(slots=True)
class Entry:
    """One path in a layer or in the merged tree.

    ``mode`` holds permission and special bits only (``& 0o7777``); the type is ``type``.
    ``target`` is the link text for symlinks (as stored, never resolved) and the absolute
    normalised path of the linked file for hardlinks. ``size`` of a hardlink is the size of
    its target inode; of a symlink, the byte length of its target (as ``lstat`` says); of
    directories, devices and FIFOs, 0. ``layer`` is the 0-based index of the layer that last wrote the
    entry. ``implicit`` marks a parent directory that no layer wrote, created with mode
    0755 and owner 0:0 as container runtimes do.
    """

    path: str
    type: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    target: str | None = None
    xattrs: tuple[str, ...] = ()
    devmajor: int = 0
    devminor: int = 0
    layer: int = -1
    implicit: bool = False
    # Where this entry's bytes are stored, for the extractor: (layer index, member path
    # in that layer's tar; the last member with that path). None means (layer, path).
    # Set by the merge for hardlinks promoted to files, writes through symlinks and
    # AUFS links. Not part of the JSON document.
    origin: tuple[int, str] | None = field(default=None, compare=False, repr=False)

    @property
    def data_origin(self) -> tuple[int, str]:
        """(layer index, member path) of the tar member that holds this file's bytes."""
        return self.origin if self.origin is not None else (self.layer, self.path)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_dir(self) -> bool:
        return self.type == DIR

    @property
    def has_capabilities(self) -> bool:
        return CAPABILITY_XATTR in self.xattrs

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "type": self.type,
            "mode": self.mode,
            "uid": self.uid,
            "gid": self.gid,
            "size": self.size,
            "mtime": self.mtime,
        }
        if self.target is not None:
            d["target"] = self.target
        d["layer"] = self.layer
        if self.xattrs:
            d["xattrs"] = list(self.xattrs)
        if self.type in (CHAR, BLOCK):
            d["devmajor"] = self.devmajor
            d["devminor"] = self.devminor
        if self.implicit:
            d["implicit"] = True
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Entry":
        return cls(
            path=d["path"],
            type=d["type"],
            mode=d.get("mode", 0),
            uid=d.get("uid", 0),
            gid=d.get("gid", 0),
            size=d.get("size", 0),
            mtime=d.get("mtime", 0),
            target=d.get("target"),
            xattrs=tuple(d.get("xattrs", ())),
            devmajor=d.get("devmajor", 0),
            devminor=d.get("devminor", 0),
            layer=d.get("layer", -1),
            implicit=d.get("implicit", False),
        )


@dataclass(slots=True)
class LayerInfo:
    """One layer of the image, with what the merge learned about it.

    ``size`` is the blob size as stored (compressed); ``uncompressed_size`` the tar size.
    ``added``/``modified``/``deleted`` count paths: added are new in the merged view at
    this layer, modified replace a path a lower layer wrote, deleted existed before this
    layer and are gone after it (hidden by its whiteouts and opaque markers, or below a
    directory it replaced with a non-directory).
    ``wasted`` is the file bytes this layer writes that a later layer hides or replaces:
    bytes that squashing the image would reclaim.
    """

    index: int
    digest: str
    diff_id: str | None = None
    size: int = 0
    media_type: str = ""
    created_by: str | None = None
    uncompressed_size: int | None = None
    entries: int = 0
    added: int = 0
    modified: int = 0
    deleted: int = 0
    wasted: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "digest": self.digest,
            "diff_id": self.diff_id,
            "size": self.size,
            "media_type": self.media_type,
            "created_by": self.created_by,
            "uncompressed_size": self.uncompressed_size,
            "entries": self.entries,
            "added": self.added,
            "modified": self.modified,
            "deleted": self.deleted,
            "wasted": self.wasted,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "LayerInfo":
        return cls(**{k: d.get(k) for k in cls.__slots__ if k in d})  # type: ignore[attr-defined]


@dataclass(slots=True)
class ImageInfo:
    """What the listing says about the image itself (``image`` in the JSON document)."""

    reference: str
    manifest_digest: str | None = None
    platform: str | None = None
    media_type: str | None = None
    config_digest: str | None = None
    created: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[LayerInfo] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "manifest_digest": self.manifest_digest,
            "platform": self.platform,
            "media_type": self.media_type,
            "config_digest": self.config_digest,
            "created": self.created,
            "config": self.config,
            "layers": [layer.to_json() for layer in self.layers],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ImageInfo":
        return cls(
            reference=d.get("reference", ""),
            manifest_digest=d.get("manifest_digest"),
            platform=d.get("platform"),
            media_type=d.get("media_type"),
            config_digest=d.get("config_digest"),
            created=d.get("created"),
            config=dict(d.get("config") or {}),
            layers=[LayerInfo.from_json(x) for x in d.get("layers", ())],
        )


def parent_of(path: str) -> str:
    """``/a/b`` -> ``/a``; ``/a`` -> ``/``."""
    head = path.rpartition("/")[0]
    return head or "/"


ROOT = "/"


class Tree:
    """A merged root filesystem: entries by path, and each directory's children.

    The root directory ``/`` always exists and is not an entry. ``add`` requires the
    parent to exist as a directory (the merge creates implicit parents); ``remove``
    deletes a whole subtree iteratively.
    """

    __slots__ = ("image", "_entries", "_kids", "root")

    def __init__(self, image: ImageInfo | None = None):
        self.image = image
        self.root = Entry(path=ROOT, type=DIR, mode=0o755)
        self._entries: dict[str, Entry] = {}
        self._kids: dict[str, dict[str, None]] = {ROOT: {}}

    # -- queries ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: str) -> bool:
        return path == ROOT or path in self._entries

    def get(self, path: str) -> Entry | None:
        if path == ROOT:
            return self.root
        return self._entries.get(path)

    def child_names(self, path: str) -> list[str]:
        """Names in directory ``path``, sorted by code point (``LC_ALL=C`` order)."""
        kids = self._kids.get(path)
        return sorted(kids) if kids else []

    def children(self, path: str) -> list[Entry]:
        base = "" if path == ROOT else path
        return [self._entries[f"{base}/{name}"] for name in self.child_names(path)]

    def walk(self, path: str = ROOT, depth: int | None = None) -> Iterator[tuple[int, Entry]]:
        """Yield ``(depth, entry)`` below ``path`` in pre-order, children sorted by name.

        ``path`` itself is not yielded. Its children have depth 1. ``depth`` limits how
        deep to go (``1``: only the children). Iterative: no recursion limit.
        """
        stack: list[tuple[int, Entry]] = [(1, e) for e in reversed(self.children(path))]
        while stack:
            d, entry = stack.pop()
            yield d, entry
            if entry.type == DIR and (depth is None or d < depth):
                stack.extend((d + 1, e) for e in reversed(self.children(entry.path)))

    def entries(self) -> list[Entry]:
        """All entries sorted by path string (the JSON order)."""
        return [self._entries[p] for p in sorted(self._entries)]

    # -- mutation (used by the merge) -------------------------------------------
    def add(self, entry: Entry) -> Entry | None:
        """Insert or replace ``entry``; return the entry it replaced, if any.

        Replacing a directory with a directory keeps its children. Replacing anything
        else removes the old subtree first (call :meth:`remove` to get the removed
        entries). The parent must exist and be a directory.
        """
        path = entry.path
        parent = parent_of(path)
        if parent not in self._kids:
            raise KeyError(f"parent of {path!r} is not a directory in the tree")
        old = self._entries.get(path)
        if old is not None and old.type == DIR and entry.type != DIR:
            self.remove(path)
        self._entries[path] = entry
        self._kids[parent][entry.name] = None
        if entry.type == DIR:
            self._kids.setdefault(path, {})
        return old

    def remove(self, path: str) -> list[Entry]:
        """Remove ``path`` and everything below it; return the removed entries."""
        if path == ROOT:
            removed = self.clear_dir(ROOT)
            return removed
        entry = self._entries.pop(path, None)
        if entry is None:
            return []
        kids = self._kids.get(parent_of(path))
        if kids is not None:
            kids.pop(entry.name, None)
        removed = [entry]
        if entry.type == DIR:
            removed.extend(self.clear_dir(path))
            del self._kids[path]
        return removed

    def clear_dir(self, path: str) -> list[Entry]:
        """Remove everything below directory ``path`` (an opaque marker); keep ``path``."""
        removed: list[Entry] = []
        stack = [path]
        while stack:
            d = stack.pop()
            base = "" if d == ROOT else d
            names = self._kids.get(d)
            for name in names or ():
                child = f"{base}/{name}"
                e = self._entries.pop(child)
                removed.append(e)
                if e.type == DIR:
                    stack.append(child)
            if d == path:
                if names:
                    names.clear()
            else:
                # Also for an EMPTY subdirectory: a stale child map would make the removed
                # directory look present to anyone testing ``path in tree._kids``.
                self._kids.pop(d, None)
        return removed

    # -- JSON v1 ----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        from . import __version__

        return {
            "schema": SCHEMA_VERSION,
            "generator": {"name": "imagefs", "version": __version__},
            "image": self.image.to_json() if self.image else None,
            "entries": [e.to_json() for e in self.entries()],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> "Tree":
        """Rebuild a tree from a JSON v1 document (parents before children by sort order)."""
        if doc.get("schema") != SCHEMA_VERSION:
            from .errors import UnsupportedError

            raise UnsupportedError(
                f"listing schema {doc.get('schema')!r} is not supported (expected {SCHEMA_VERSION}); "
                "regenerate it with this version of imagefs"
            )
        image = doc.get("image")
        tree = cls(ImageInfo.from_json(image) if image else None)
        for d in sorted(doc.get("entries", ()), key=lambda x: x["path"].count("/")):
            tree.add(Entry.from_json(d))
        return tree

    # -- statistics ------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counts by type and the total bytes of regular files (hardlinks counted once)."""
        counts = {t: 0 for t in ENTRY_TYPES}
        total = 0
        for e in self._entries.values():
            counts[e.type] += 1
            if e.type == FILE:
                total += e.size
        counts["total_size"] = total
        counts["entries"] = len(self._entries)
        return counts

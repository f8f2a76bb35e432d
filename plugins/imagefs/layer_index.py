"""The index of ONE layer: its entries, whiteouts and opaque directories.

:func:`index_layer` reads a layer's uncompressed tar stream once and keeps what the merge
needs, never the file contents:

- ``rows`` (``entries`` as :class:`~imagefs.tree.Entry` objects, ``layer`` unset), in tar
  order. A path that occurs twice keeps its **last** occurrence, at that position.
- ``whiteouts``: paths that ``.wh.NAME`` files delete **in lower layers** (never in this
  layer: the merge applies whiteouts before this layer's entries, so entries of the same
  layer survive their own layer's whiteouts whatever the tar order).
- ``opaque``: directories whose lower contents ``.wh..wh..opq`` hides.
- ``moved``: entries whose bytes are stored under another member path of this layer
  (AUFS ``/.wh..wh.plnk`` hardlinks, see below).

Whiteouts, decided here once for every consumer:

- any member whose base name starts with ``.wh.`` is a whiteout, whatever its type; its
  content, if any, is ignored (harmless, as in Docker and containerd);
- ``.wh.`` (no name), ``.wh..`` and ``.wh...`` are refused with
  :class:`~imagefs.errors.InvalidImageError`: they would name the directory itself or
  its parent;
- a ``.wh.`` name used as a *directory* on the way to another member (``.wh.d/f``) is
  refused the same way: no writer produces it and appliers disagree on its meaning;
- AUFS metadata (base names or root directories starting with ``.wh..wh.``, such as
  ``/.wh..wh.plnk`` and ``/.wh..wh.aufs``) is hidden. Files under ``/.wh..wh.plnk/`` can
  be hardlink targets: such a hardlink becomes a regular file with the hidden file's
  metadata and bytes, as Docker's applier does (``moved`` records where the bytes are).

Sizes: regular files have their data size (hardlinks get their target's in the merge),
symlinks the byte length of their target (what ``lstat`` and ``ls -l`` report), others 0.
A member for the root itself (``./``) is skipped when it is a directory (the root is not
an entry); a root that is not a directory is refused.

The index round-trips through :meth:`LayerIndex.to_json` / :meth:`LayerIndex.from_json`
(a versioned, compact form: one array per entry) for the layer cache.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from .errors import InvalidImageError
from .tree import DIR, ENTRY_TYPES, FILE, HARDLINK, SYMLINK, Entry

CHUNK = 1 << 20  # read size of the byte-counting wrapper (tarstream reads this much)

INDEX_VERSION = 1
_TYPES = frozenset(ENTRY_TYPES)

WH_PREFIX = ".wh."
WH_META_PREFIX = ".wh..wh."
WH_OPAQUE = ".wh..wh..opq"
AUFS_LINK_DIR = "/.wh..wh.plnk"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many objects at once.

    Indexing and merging create one object per entry and no cycles; with the collector
    running, its generation-2 passes over the growing heap cost more than the work itself
    (3-6x slower on 200,000 entries). Nested uses are fine.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# A row is an entry in compact form: [path, type, mode, uid, gid, size, mtime] and, for
# links, devices and entries with xattrs, [..., target, xattrs (tuple), devmajor, devminor].
# The merge builds its Entry objects straight from rows (one object per entry, not two).
Row = list


def row_entry(row: Row, layer: int = -1) -> Entry:
    if len(row) == 7:
        return Entry(*row, None, (), 0, 0, layer)
    return Entry(*row, layer)


@dataclass
class LayerIndex:
    """What one layer writes and deletes. See the module docstring.

    ``rows`` holds the entries in compact form (see ``Row``), in tar order with
    duplicates resolved; :attr:`entries` gives them as :class:`Entry` objects.
    """

    rows: list[Row] = field(default_factory=list)
    whiteouts: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    moved: dict[str, str] = field(default_factory=dict)
    members: int = 0  # tar members read (entries, whiteouts, markers, metadata)
    size: int = 0  # uncompressed tar bytes

    @property
    def entries(self) -> dict[str, Entry]:
        """path -> Entry (``layer`` unset), in tar order. Built on each access."""
        return {row[0]: row_entry(row) for row in self.rows}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": INDEX_VERSION,
            "members": self.members,
            "size": self.size,
            "whiteouts": self.whiteouts,
            "opaque": self.opaque,
            "moved": self.moved,
            "entries": self.rows,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LayerIndex:
        """Rebuild an index; raises ``ValueError`` on any other version or a bad shape."""
        if not isinstance(doc, dict) or doc.get("version") != INDEX_VERSION:
            raise ValueError(f"layer index version {doc.get('version') if isinstance(doc, dict) else None!r}")
        rows = doc["entries"]
        if not isinstance(rows, list):
            raise ValueError("entries is not a list")  # noqa: TRY004 - every bad shape is a ValueError
        for row in rows:
            n = len(row)
            if n != 7:
                if n != 11:
                    raise ValueError(f"entry row of {n} fields")
                row[8] = tuple(row[8])
            if not isinstance(row[0], str) or row[1] not in _TYPES:
                raise ValueError("entry row without a path or with an unknown type")
            p = row[0]
            if p[:1] != "/" or p == "/" or p[-1] == "/" or "//" in p or ("/." in p and _dot_component(p)):
                raise ValueError(f"entry path {p!r} is not normalised")
        whiteouts, opaque, moved = doc["whiteouts"], doc["opaque"], doc.get("moved") or {}
        if not isinstance(whiteouts, list) or not isinstance(opaque, list) or not isinstance(moved, dict):
            raise ValueError("whiteouts, opaque or moved has the wrong type")  # noqa: TRY004
        return cls(rows, whiteouts, opaque, moved, int(doc["members"]), int(doc["size"]))


def _dot_component(p: str) -> bool:
    """Whether absolute path ``p`` has a ``.`` or ``..`` component (a tampered cache)."""
    return p.endswith(("/.", "/..")) or "/./" in p or "/../" in p


class _Counting:
    """A read-through wrapper that counts the bytes of the uncompressed stream."""

    __slots__ = ("_raw", "n")

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.n = 0

    def read(self, n: int = CHUNK) -> bytes:
        data = self._raw.read(n)
        self.n += len(data)
        return data


def index_layer(stream: IO[bytes], *, limits=None, where: str = "layer") -> LayerIndex:
    """Read one layer's tar ``stream`` to EOF and index it (see the module docstring).

    ``limits`` (:class:`~imagefs.sources.base.Limits`) bound entries and paths; ``where``
    names the layer in errors.
    """
    with paused_gc():
        return _index(stream, limits, where)


def _index(stream: IO[bytes], limits, where: str) -> LayerIndex:
    from .tarstream import iter_members

    counting = _Counting(stream)
    entries: dict[str, Row] = {}
    whiteouts: dict[str, None] = {}
    opaque: dict[str, None] = {}
    aufs: dict[str, Row] = {}
    aufs_links: list[Row] = []
    members = 0
    pop = entries.pop
    for m in iter_members(counting, limits=limits, where=where):
        members += 1
        path = m.path
        if "/.wh." in path:
            parent, _, base = path.rpartition("/")
            parent = parent or "/"
            if path.startswith("/.wh..wh.") and path != "/" + WH_OPAQUE:
                # AUFS metadata at the root (/.wh..wh.plnk, /.wh..wh.aufs, /.wh..wh.orph)
                # and everything in it: hidden; files in the link dir may be hardlink targets.
                if path.startswith(AUFS_LINK_DIR + "/") and m.type == FILE:
                    aufs[path] = _row(m)
                continue
            if "/.wh." in parent:
                raise InvalidImageError(
                    f"{where}: entry {m.name!r} is inside a whiteout name; a .wh. file cannot be a directory"
                )
            if base.startswith(WH_PREFIX):
                if base.startswith(WH_META_PREFIX):
                    if base == WH_OPAQUE:
                        opaque[parent] = None
                    continue  # other AUFS metadata (.wh..wh.aufs, ...): hidden
                name = base[4:]
                if name in ("", ".", ".."):
                    raise InvalidImageError(
                        f"{where}: whiteout {m.name!r} names no file (it would delete its own directory or parent)"
                    )
                whiteouts[path[: len(path) - len(base)] + name] = None
                continue
        if path == "/":
            if m.type != DIR:
                raise InvalidImageError(
                    f"{where}: entry {m.name!r} makes the image root a {m.type}; the root must be a directory"
                )
            continue
        t = m.type
        if t == FILE and not m.xattrs:
            row = [path, t, m.mode, m.uid, m.gid, m.size, m.mtime]
        else:
            row = _row(m)
            if t == HARDLINK and m.linkname.startswith(AUFS_LINK_DIR + "/"):
                aufs_links.append(row)
        pop(path, None)
        entries[path] = row
    moved: dict[str, str] = {}
    for row in aufs_links:
        path, target = row[0], row[7]
        if entries.get(path) is not row:
            continue
        src = aufs.get(target)
        if src is None:
            raise InvalidImageError(
                f"{where}: hardlink {path!r} points to {target!r}, which is not in the layer's AUFS link directory"
            )
        entries[path] = [path, FILE, *src[2:7]] + ([None, src[8], 0, 0] if len(src) > 7 and src[8] else [])
        moved[path] = target
    return LayerIndex(
        rows=list(entries.values()),
        whiteouts=list(whiteouts),
        opaque=list(opaque),
        moved=moved,
        members=members,
        size=counting.n,
    )


def _row(m) -> Row:
    t = m.type
    if t == FILE:
        if m.xattrs:
            return [m.path, t, m.mode, m.uid, m.gid, m.size, m.mtime, None, tuple(sorted(m.xattrs)), 0, 0]
        return [m.path, t, m.mode, m.uid, m.gid, m.size, m.mtime]
    if t == DIR:
        if m.xattrs:
            return [m.path, t, m.mode, m.uid, m.gid, 0, m.mtime, None, tuple(sorted(m.xattrs)), 0, 0]
        return [m.path, t, m.mode, m.uid, m.gid, 0, m.mtime]
    size = len(m.linkname.encode("utf-8", "surrogateescape")) if t == SYMLINK else 0
    return [m.path, t, m.mode, m.uid, m.gid, size, m.mtime, m.linkname, tuple(sorted(m.xattrs)), m.devmajor, m.devminor]

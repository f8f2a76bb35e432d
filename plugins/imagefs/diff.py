"""Comparing two merged trees: which paths were added, removed or changed, and how.

:func:`diff_trees` is pure and linear after sorting: it merge-joins the two trees'
path-sorted entries. A path present in both is *changed* when any compared field
differs: ``type``, ``mode``, ``uid``, ``gid``, ``size``, ``target`` (symlink text or
hardlink target), device numbers, xattr names, and ``mtime`` only when asked (mtimes
churn on every rebuild, so they are ignored by default). The layer that wrote an entry
is not compared: it is attribution, not content.

Listings carry no content digests, so a file rewritten with the same size, mode and
owner is not reported; compare extracted files for that.

Both the text renderer (:mod:`imagefs.render.diff`) and the site's HTML diff view read
the :class:`TreeDiff`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .tree import BLOCK, CHAR, Entry, ImageInfo, Tree

COMPARED = ("type", "mode", "uid", "gid", "size", "target", "device", "xattrs")


@dataclass(frozen=True, slots=True)
class Change:
    """A path in both trees whose fields differ: ``fields`` maps name -> (old, new)."""

    path: str
    old: Entry
    new: Entry
    fields: dict[str, tuple[Any, Any]]


@dataclass(slots=True)
class TreeDiff:
    """Paths only in ``b`` (``added``), only in ``a`` (``removed``), and changed ones.

    Each list is sorted by path. ``a_image``/``b_image`` say what was compared.
    """

    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    a_image: ImageInfo | None = None
    b_image: ImageInfo | None = None

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def counts(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}


def _value(entry: Entry, name: str) -> Any:
    if name == "device":
        return (entry.devmajor, entry.devminor) if entry.type in (CHAR, BLOCK) else None
    if name == "xattrs":
        return tuple(sorted(entry.xattrs))
    return getattr(entry, name)


def compare(old: Entry, new: Entry, *, mtime: bool = False) -> dict[str, tuple[Any, Any]]:
    """The fields that differ between two entries at the same path."""
    out: dict[str, tuple[Any, Any]] = {}
    for name in COMPARED + (("mtime",) if mtime else ()):
        a, b = _value(old, name), _value(new, name)
        if a != b:
            out[name] = (a, b)
    return out


def diff_trees(a: Tree, b: Tree, *, mtime: bool = False) -> TreeDiff:
    """What changed from tree ``a`` to tree ``b`` (``mtime``: compare times too)."""
    result = TreeDiff(a_image=a.image, b_image=b.image)
    ea, eb = a.entries(), b.entries()
    i = j = 0
    while i < len(ea) and j < len(eb):
        x, y = ea[i], eb[j]
        if x.path == y.path:
            fields = compare(x, y, mtime=mtime)
            if fields:
                result.changed.append(Change(x.path, x, y, fields))
            i += 1
            j += 1
        elif x.path < y.path:
            result.removed.append(x)
            i += 1
        else:
            result.added.append(y)
            j += 1
    result.removed.extend(ea[i:])
    result.added.extend(eb[j:])
    return result

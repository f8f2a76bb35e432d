"""Merge layer indexes into the image's filesystem, exactly as the OCI changeset rules say.

:func:`merge` is a pure function of the per-layer indexes (it never reads a blob): it
applies layer 0, then 1, ... onto an empty :class:`~imagefs.tree.Tree`, and fills each
:class:`~imagefs.tree.LayerInfo` with what that layer added, modified, deleted and wasted.

Rules, per layer L (all iterative, near-linear in the number of entries):

1. **Whiteouts** (``.wh.NAME``) delete NAME and its subtree *in lower layers only*; then
   **opaque markers** (``.wh..wh..opq``) hide all lower contents of their directory. Both
   run before L's own entries, so entries of the same layer survive whatever the tar order.
2. **Entries**, in tar order (a duplicate's last occurrence wins, at its position):
   a directory over a directory merges (the upper metadata wins, children stay); anything
   else replaces the old path and its whole subtree.
3. **Implicit parents**: a missing parent directory is created with mode 0755, owner 0:0,
   ``implicit=True`` and ``layer`` = the layer that implied it. A parent that already
   exists as a directory is left as it is (lower metadata kept, as containerd and umoci
   do; Docker's overlay2 would show 0755 root:root there, but Docker's own layer tars
   always carry their parent directories, so real images never differ).

Symlinks over directories and back, ``symlinks=``:

- ``"overlay"`` (default; Docker overlay2, containerd overlayfs: what a container sees).
  Each layer is unpacked into its own directory and the layers are stacked, so a symlink
  in a lower layer is never written through. With ``lib -> usr/lib`` in a lower layer, an
  upper ``lib/`` directory entry replaces the symlink, and an upper ``lib/x`` with no
  ``lib/`` entry (or an upper ``lib/.wh.x``) gets an implicit directory ``lib`` replacing
  the symlink: the merged ``lib`` then holds only the upper layer's entries.
- ``"follow"`` (umoci, Docker's vfs driver and other flattening appliers): each layer is
  unpacked onto the merged root, and parent paths are resolved through symlinks, within
  the root (``..`` at the root stays at the root; absolute targets are relative to the
  image root), at most ``Limits.max_symlink_hops`` (40) hops, else
  :class:`~imagefs.errors.BudgetExceededError`. ``lib/x`` then lands in ``/usr/lib/x``,
  and ``lib/.wh.x`` deletes ``/usr/lib/x``. The final component is never followed: a
  ``lib/`` directory entry still replaces the symlink. A non-directory in the way of a
  parent path is replaced by an implicit directory (umoci would fail there).

In both models a whiteout's or opaque marker's directory is part of the layer, so in the
overlay model it is created (implicitly) if missing; in the follow model a whiteout in a
missing directory does nothing.

Hardlinks are bound to their target *inode*, within and across layers: the link entry
keeps type ``hardlink``, its ``target`` is the path of the inode's first name (the
"primary"), and its size, mode, owner, mtime and xattrs are the target's. The target is
looked up when the link is applied (tar order), following symlinks in its parent
directories within the root, never in its last component, so **a hardlink to a symlink is
allowed** and shares the symlink's inode. A hardlink to a missing target, to itself or to a
directory is an :class:`~imagefs.errors.InvalidImageError` naming the layer and entry, as
Docker's applier fails on them. When a later layer deletes or replaces a primary whose
links survive, the first surviving link (by path) becomes the primary (it takes the
inode's type: ``file``, ``symlink``...), the others point at it, and ``Entry.origin``
records the (layer, member path) that holds the bytes, for the extractor. Because a
layer's whiteouts run before its entries, a hardlink to a lower file that the same layer
whites out is refused whatever the tar order; and a duplicate path keeps only its last
occurrence, so a hardlink can only bind to that one (appliers that replay the tar could
bind to an earlier copy; no real writer produces either case).

Statistics per layer: ``added`` paths new in the merged view after the layer,
``modified`` paths the layer rewrote that existed before it, ``deleted`` paths that
existed before the layer and are gone after it (whiteouts, opaque markers and subtrees
replaced by a non-directory), ``wasted`` the bytes of regular files whose data lives in
this layer and that a *later* layer deleted or replaced with no hardlink keeping them
(squashing the image would reclaim exactly these bytes; hardlinks are counted once).
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import BudgetExceededError, InvalidImageError, UsageError
from .layer_index import LayerIndex, Row, paused_gc, row_entry
from .tree import DIR, FILE, HARDLINK, ROOT, SYMLINK, Entry, LayerInfo, Tree

SYMLINK_MODELS = ("overlay", "follow")
WALK_BUDGET = 50_000_000  # path components walked through symlinks per merge


def merge(
    indexes: Sequence[LayerIndex],
    layers: Sequence[LayerInfo],
    *,
    symlinks: str = "overlay",
    limits=None,
) -> Tree:
    """Apply ``indexes`` (base first) and return the merged tree (``tree.image`` unset).

    ``layers`` are the matching :class:`LayerInfo` objects; their ``added``,
    ``modified``, ``deleted`` and ``wasted`` are filled in (and ``entries`` and
    ``uncompressed_size`` when unset). The indexes are not modified.
    """
    if symlinks not in SYMLINK_MODELS:
        raise UsageError(f"symlink model {symlinks!r} is not one of {', '.join(SYMLINK_MODELS)}")
    if len(indexes) != len(layers):
        raise ValueError(f"{len(indexes)} layer indexes but {len(layers)} LayerInfo objects")
    m = _Merger(symlinks == "follow", limits)
    with paused_gc():
        for i, (ix, info) in enumerate(zip(indexes, layers)):
            m.apply(i, ix, info)
    for i, info in enumerate(layers):
        info.wasted = m.wasted[i]
    return m.tree


class _Merger:
    def __init__(self, follow: bool, limits):
        self.tree = Tree()
        self.E = self.tree._entries
        self.K = self.tree._kids
        self.follow = follow
        self.max_hops = limits.max_symlink_hops if limits is not None else 40
        self.max_entries = limits.max_entries if limits is not None else None
        self.links: dict[str, list[Entry]] = {}  # primary path -> hardlink entries (may be stale)
        self.wasted: list[int] = []
        self.resolved: dict[str, str] = {}  # follow model: parent dir -> real dir (cleared on change)
        # Path components walked while resolving symlinks, over the whole merge: a hostile
        # layer alternating symlinks and writes through long chains cannot go quadratic.
        self.walk_budget = WALK_BUDGET
        # per layer
        self.L = 0
        self.where = ""
        self.written: dict[str, bool] = {}  # path -> existed before this layer
        self.gone: set[str] = set()  # paths that existed before this layer and were removed
        # Paths the fast path added (new, layer L) are counted, not put in ``written``;
        # ``lost`` counts those the slow path later removed or took over.
        self.lost = 0

    # -- one layer ------------------------------------------------------------------------
    def apply(self, L: int, ix: LayerIndex, info: LayerInfo) -> None:
        self.L = L
        self.where = f"layer {L} ({info.digest})" if info.digest else f"layer {L}"
        self.written = {}
        self.gone = set()
        self.lost = 0
        self.wasted.append(0)
        E, K = self.E, self.K
        follow = self.follow

        # Overlay: a marker's directory is part of this layer, so it is made only after all
        # of the layer's whiteouts and opaque markers removed what they hide in the lower
        # layers; otherwise ``.wh.a`` after ``a/.wh.x`` would delete this layer's own ``a``
        # (and an opaque ``a/`` would clear the ``a/b/`` holding ``a/b/.wh.x``): tar order
        # must not matter.
        marker_dirs: list[str] = []
        for w in ix.whiteouts:
            parent, _, name = w.rpartition("/")
            parent = parent or ROOT
            if follow:
                parent = self._resolve(parent)
                if parent not in K:
                    continue
            else:
                marker_dirs.append(parent)
            p = (parent if parent != ROOT else "") + "/" + name
            if p in E:
                self._remove(p)
        for d in ix.opaque:
            if follow:
                d = self._resolve(d)
                if d not in K:
                    continue
            else:
                marker_dirs.append(d)
                if d not in K:
                    continue
            self._removed(self.tree.clear_dir(d))
        for d in marker_dirs:
            if d not in K:
                self._ensure_dir(d)

        moved = ix.moved
        written = self.written
        gone = self.gone
        fresh = 0
        for row in ix.rows:
            path = row[0]
            t = row[1]
            cut = path.rfind("/")
            parent = path[:cut] or ROOT
            if parent in K:
                if t != HARDLINK and path not in E and not moved:
                    # The common case: a new path in an existing directory.
                    if (gone and path in gone) or (written and path in written):
                        if path not in written:
                            written[path] = True
                    else:
                        fresh += 1
                    E[path] = Entry(*row, None, (), 0, 0, L) if len(row) == 7 else Entry(*row, L)
                    K[parent][path[cut + 1 :]] = None
                    if t == DIR:
                        K[path] = {}
                    elif t == SYMLINK and follow:
                        self.resolved.clear()
                    continue
            else:
                if follow:
                    parent = self._resolve(parent)
                    path = (parent if parent != ROOT else "") + path[cut:]
                if parent not in K:
                    self._ensure_dir(parent)
            if t == HARDLINK:
                # Like the appliers: remove what is at the link's path, then link.
                if path in E:
                    if path not in written:
                        self._take(E[path])
                    self._remove(path)
                new = self._bind(row, path)
            else:
                new = row_entry(row, L)
                if path != row[0]:
                    new.path = path
                    new.origin = (L, row[0])
                if moved and row[0] in moved:
                    new.origin = (L, moved[row[0]])
            self._put(new)

        added = fresh - self.lost
        modified = 0
        for p, existed in self.written.items():
            cur = E.get(p)
            if cur is not None and cur.layer == L:
                if existed:
                    modified += 1
                else:
                    added += 1
        info.added = added
        info.modified = modified
        info.deleted = sum(1 for p in self.gone if p not in E)
        if not info.entries:
            info.entries = ix.members
        if info.uncompressed_size is None:
            info.uncompressed_size = ix.size
        if self.max_entries is not None and len(E) > self.max_entries:
            raise BudgetExceededError(
                f"{self.where}: the merged tree has more than {self.max_entries} entries (the entry budget); if you trust the image, raise it with --max-entries N"
            )

    # -- tree edits with bookkeeping ------------------------------------------------------
    def _put(self, new: Entry) -> None:
        """Add ``new``: dir over dir merges, anything else replaces the old subtree."""
        E, K = self.E, self.K
        p = new.path
        old = E.get(p)
        if p not in self.written:
            if old is not None:
                self._take(old)
            else:
                self.written[p] = p in self.gone
        if old is not None:
            if old.type == DIR and new.type == DIR:
                E[p] = new  # children stay
                return
            self._remove(p)
        cut = p.rfind("/")
        E[p] = new
        K[p[:cut] or ROOT][p[cut + 1 :]] = None
        if new.type == DIR:
            K[p] = {}
        elif new.type == SYMLINK and self.follow:
            self.resolved.clear()

    def _take(self, old: Entry) -> None:
        """The slow path touches ``old``, not yet in ``written``: record whether it is lower."""
        p = old.path
        if old.layer == self.L:  # added by the fast path in this layer
            self.lost += 1
            self.written[p] = False
        else:
            self.written[p] = old.layer < self.L or p in self.gone

    def _remove(self, p: str) -> None:
        self._removed(self.tree.remove(p))

    def _removed(self, removed: list[Entry]) -> None:
        if not removed:
            return
        L = self.L
        E = self.E
        written = self.written
        gone = self.gone
        links = self.links
        if self.follow:
            self.resolved.clear()
        for e in removed:
            p = e.path
            if e.layer < L:
                gone.add(p)
            elif e.layer == L:
                w = written.get(p)
                if w:
                    gone.add(p)
                elif w is None:  # a fast-path addition, removed again
                    self.lost += 1
            t = e.type
            if t == DIR or t == HARDLINK:
                continue
            lst = links.pop(p, None) if links else None
            if lst:
                survivors = [h for h in lst if E.get(h.path) is h]
                if survivors:
                    self._promote(e, survivors)
                    continue
            if t == FILE and e.size:
                ol = e.origin[0] if e.origin is not None else e.layer
                if ol < L:
                    self.wasted[ol] += e.size

    def _promote(self, primary: Entry, survivors: list[Entry]) -> None:
        survivors.sort(key=lambda h: h.path)
        first = survivors[0]
        first.type = primary.type
        first.target = primary.target if primary.type == SYMLINK else None
        first.origin = primary.data_origin if primary.type == FILE else None
        rest = survivors[1:]
        for h in rest:
            h.target = first.path
        if rest:
            self.links[first.path] = rest

    def _ensure_dir(self, d: str) -> None:
        """Make ``d`` a directory: create missing ones implicitly, replace non-directories."""
        K = self.K
        if d in K:
            return
        chain = []
        cur = d
        while cur not in K:
            chain.append(cur)
            cur = cur[: cur.rfind("/")] or ROOT
        E = self.E
        L = self.L
        for p in reversed(chain):
            if p in E:  # a non-directory in the way
                self._remove(p)
            self._put(Entry(p, DIR, 0o755, 0, 0, 0, 0, None, (), 0, 0, L, True))

    def _resolve(self, d: str) -> str:
        """Follow model: the real path of directory ``d``, symlinks resolved inside the root."""
        if d in self.K:
            return d
        hit = self.resolved.get(d)
        if hit is not None:
            return hit
        real = self._walk(d, d, follow_last=True)
        self.resolved[d] = real
        return real

    def _walk(self, path: str, what: str, *, follow_last: bool) -> str:
        E = self.E
        stack = path.split("/")[::-1]
        if not follow_last:
            last = stack[0]
            stack = stack[1:]
        cur = ""
        hops = 0
        budget = self.walk_budget - len(stack)
        while stack:
            c = stack.pop()
            if not c or c == ".":
                continue
            if c == "..":
                cur = cur[: cur.rfind("/")] if cur else ""
                continue
            nxt = cur + "/" + c
            e = E.get(nxt)
            if e is not None and e.type == HARDLINK:
                e = E.get(e.target)
            if e is not None and e.type == SYMLINK:
                hops += 1
                if hops > self.max_hops:
                    raise BudgetExceededError(
                        f"{self.where}: resolving {what!r} takes more than {self.max_hops} symlink hops "
                        "(a loop or a chain too long; --max-symlink-hops N raises the limit)"
                    )
                t = e.target or ""
                if t.startswith("/"):
                    cur = ""
                parts = t.split("/")
                budget -= len(parts)
                if budget < 0:
                    raise BudgetExceededError(
                        f"{self.where}: resolving symlinks took more than {WALK_BUDGET} path steps in this image"
                    )
                stack.extend(parts[::-1])
                continue
            cur = nxt
        self.walk_budget = budget
        if not follow_last:
            cur = cur + "/" + last if last not in ("", ".", "..") else cur
        return cur or ROOT

    def _bind(self, row: Row, path: str) -> Entry:
        """A hardlink entry at ``path`` (from ``row``) bound to the inode its target names."""
        name = row[0]
        target = row[7] or ""
        real = self._walk(target, target, follow_last=False) if target != ROOT else ROOT
        te = self.E.get(real)
        if real == ROOT or (te is not None and te.type == DIR):
            raise InvalidImageError(
                f"{self.where}: hardlink {name!r} points to the directory {target!r}; hardlinks to directories are invalid"
            )
        if te is None:
            raise InvalidImageError(
                f"{self.where}: hardlink {name!r} points to {target!r}, which does not exist at that point of the layer "
                "(container runtimes refuse this layer too)"
            )
        if te.type == HARDLINK:
            te = self.E[te.target]
        if te.path == path:
            raise InvalidImageError(f"{self.where}: hardlink {name!r} points to itself")
        new = Entry(path, HARDLINK, te.mode, te.uid, te.gid, te.size, te.mtime, te.path, te.xattrs, te.devmajor, te.devminor, self.L)
        self.links.setdefault(te.path, []).append(new)
        return new

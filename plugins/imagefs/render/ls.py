"""``ls -la``-style listing of the merged filesystem.

One line per entry, columns aligned per directory like GNU ``ls``::

    drwxr-xr-x  2 0 0    0 2024-05-01 13:07 .
    drwxr-xr-x 17 0 0    0 2024-05-01 13:07 ..
    -rwsr-xr-x  1 0 0 5120 2024-05-01 13:07 su
    lrwxrwxrwx  1 0 0    7 2024-05-01 13:07 sh -> dash
    crw-rw-rw-  1 0 0 1, 3 2024-05-01 13:07 null

Choices, on purpose:

- owners are numeric (``ls -n``): the uid/gid stored in the layer, never looked up in
  the host's (or the image's) ``/etc/passwd``;
- times are ``--time-style=long-iso`` in UTC, so output does not depend on a time zone;
- no ``total`` line: block counts belong to a file system, an image has none;
- the link count is computed from the tree: a directory has 2 plus its subdirectories,
  a file 1 plus the hardlinks to it (hardlinks show as regular files, as ``ls`` does);
- a symlink's size is the length of its target, as on disk;
- names sort by code point (``LC_ALL=C``); every name and target goes through
  :func:`imagefs.names.visible`.

``recursive=True`` is ``ls -laR``: a ``path:`` header per directory, blank-line separated.
A ``path`` naming a non-directory (or a symlink, unless it ends with ``/``) shows one line.
"""

from __future__ import annotations

from collections import Counter

from ..names import visible
from ..tree import BLOCK, CHAR, DIR, HARDLINK, SYMLINK, Entry, Tree
from .fields import format_time, human_size, lookup, mode_string, normalize


def link_counts(tree: Tree) -> Counter[str]:
    """Hardlinks per target path (one pass over the tree)."""
    counts: Counter[str] = Counter()
    for e in tree.entries():
        if e.type == HARDLINK and e.target:
            counts[e.target] += 1
    return counts


class _Lister:
    def __init__(self, tree: Tree, human: bool, dots: bool):
        self.tree = tree
        self.human = human
        self.dots = dots
        self.links = link_counts(tree)
        self._dir_links: dict[str, int] = {}

    def nlink(self, entry: Entry) -> int:
        if entry.type == DIR:
            n = self._dir_links.get(entry.path)
            if n is None:
                n = self._dir_links[entry.path] = 2 + sum(1 for c in self.tree.children(entry.path) if c.type == DIR)
            return n
        if entry.type == HARDLINK:
            return 1 + self.links.get(entry.target or "", 0)
        return 1 + self.links.get(entry.path, 0)

    def size(self, entry: Entry) -> str:
        if entry.type in (CHAR, BLOCK):
            return f"{entry.devmajor}, {entry.devminor}"
        if entry.type == SYMLINK:
            n = len((entry.target or "").encode("utf-8", "surrogateescape"))
        else:
            n = entry.size
        return human_size(n) if self.human else str(n)

    def lines(self, rows: list[tuple[Entry, str]]) -> list[str]:
        """Aligned lines for ``(entry, shown name)`` rows."""
        cols = []
        for entry, name in rows:
            if entry.type == SYMLINK:
                name += " -> " + visible(entry.target or "")
            cols.append(
                (
                    mode_string(entry),
                    str(self.nlink(entry)),
                    str(entry.uid),
                    str(entry.gid),
                    self.size(entry),
                    format_time(entry.mtime),
                    name,
                )
            )
        if not cols:
            return []
        widths = [max(len(c[i]) for c in cols) for i in range(5)]
        # Device numbers: align "major, minor" on the comma, like ls.
        devs = [c[4] for c in cols if ", " in c[4]]
        if devs:
            wmaj = max(len(d.split(", ")[0]) for d in devs)
            wmin = max(len(d.split(", ")[1]) for d in devs)
            fixed = []
            for c in cols:
                if ", " in c[4]:
                    a, b = c[4].split(", ")
                    c = c[:4] + (f"{a:>{wmaj}}, {b:>{wmin}}",) + c[5:]
                fixed.append(c)
            cols = fixed
            widths[4] = max(widths[4], wmaj + 2 + wmin)
        return [
            f"{c[0]} {c[1]:>{widths[1]}} {c[2]:>{widths[2]}} {c[3]:>{widths[3]}} {c[4]:>{widths[4]}} {c[5]} {c[6]}"
            for c in cols
        ]

    def directory(self, entry: Entry) -> list[str]:
        rows: list[tuple[Entry, str]] = []
        if self.dots:
            parent = self.tree.get(entry.path.rpartition("/")[0] or "/") or self.tree.root
            rows.append((entry, "."))
            rows.append((parent, ".."))
        rows.extend((c, visible(c.name)) for c in self.tree.children(entry.path))
        return self.lines(rows)


def render(
    tree: Tree,
    *,
    path: str = "/",
    recursive: bool = False,
    human: bool = False,
    dots: bool = True,
    depth: int | None = None,
    where: str = "the image",
) -> str:
    """``ls -la PATH`` (``-R`` with ``recursive``, ``-h`` with ``human``, ``-A`` without ``dots``).

    ``depth`` limits ``-R`` to directories at most that many levels below ``path``.
    """
    lister = _Lister(tree, human, dots)
    start = lookup(tree, path, where=where)
    if start.type != DIR:
        return "\n".join(lister.lines([(start, visible(normalize(path)))])) + "\n"
    if not recursive:
        return "\n".join(lister.directory(start)) + "\n"
    blocks: list[str] = []
    head = normalize(path)
    # Pre-order over directories, iteratively: (shown path, entry, level).
    stack: list[tuple[str, Entry, int]] = [(head, start, 0)]
    while stack:
        shown, entry, level = stack.pop()
        body = lister.directory(entry)
        blocks.append("\n".join([visible(shown) + ":", *body]))
        if depth is None or level < depth:
            subdirs = [c for c in tree.children(entry.path) if c.type == DIR]
            base = "" if shown == "/" else shown
            for c in reversed(subdirs):
                stack.append((f"{base}/{c.name}", c, level + 1))
    return "\n\n".join(blocks) + "\n"

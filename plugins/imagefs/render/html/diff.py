"""The ``diff`` view: what changed from one snapshot (``against``, the base) to another.

Added, removed and changed paths, coloured, with counts, in path order. The comparison
is the shared :func:`imagefs.diff.diff_trees` (the text ``imagefs diff`` reads the same
result): a change lists what differs (type, mode, owner, size, link target, device,
xattrs); mtime alone is not a change, since rebuilding an image touches every mtime.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from itertools import islice
from typing import Iterator

from ...diff import diff_trees
from ...tree import ROOT, Entry, Tree
from .markup import anchor_id, esc, human_size, mode_string, more, title_bar


@dataclass(slots=True)
class Change:
    path: str
    kind: str  # added | removed | changed
    old: Entry | None = None
    new: Entry | None = None
    what: dict = field(default_factory=dict)


def _within(path: str, root: str) -> bool:
    return root == ROOT or path == root or path.startswith(root + "/")


_CACHE: list[tuple[Tree, Tree, object]] = []


def _diff(base: Tree, other: Tree):
    """``diff_trees``, remembered for the last few pairs: pages often show several diff
    fences of the same two snapshots (the fence hands over the same cached trees)."""
    for a, b, d in _CACHE:
        if a is base and b is other:
            return d
    d = diff_trees(base, other)
    _CACHE.insert(0, (base, other, d))
    del _CACHE[4:]
    return d


def compare(base: Tree, other: Tree, path: str = ROOT) -> tuple[dict[str, int], Iterator[Change]]:
    """Counts by kind, and the changes from ``base`` to ``other`` at and below ``path`` in path order.

    The changes are produced lazily (a merge of three sorted lists), so a listing cut at
    ``limit`` builds only the rows it shows.
    """
    d = _diff(base, other)
    added = [e for e in d.added if _within(e.path, path)]
    removed = [e for e in d.removed if _within(e.path, path)]
    changed = [c for c in d.changed if _within(c.path, path)]
    counts = {"added": len(added), "removed": len(removed), "changed": len(changed)}
    rows = heapq.merge(
        ((e.path, 0, e) for e in added), ((e.path, 1, e) for e in removed), ((c.path, 2, c) for c in changed),
        key=lambda t: (t[0], t[1]),
    )

    def build() -> Iterator[Change]:
        for p, kind, x in rows:
            if kind == 0:
                yield Change(p, "added", new=x)
            elif kind == 1:
                yield Change(p, "removed", old=x)
            else:
                yield Change(p, "changed", x.old, x.new, x.fields)

    return counts, build()


def _describe(c: Change) -> str:
    o, n = c.old, c.new
    parts = []
    if "type" in c.what or "mode" in c.what:
        parts.append(f"{mode_string(o)} → {mode_string(n)}")
    if "uid" in c.what or "gid" in c.what:
        parts.append(f"owner {o.uid}:{o.gid} → {n.uid}:{n.gid}")
    if "size" in c.what:
        parts.append(f"size {human_size(o.size)} → {human_size(n.size)}")
    if "target" in c.what:
        parts.append(f"target {o.target or '—'} → {n.target or '—'}")
    if "device" in c.what:
        parts.append(f"device {o.devmajor},{o.devminor} → {n.devmajor},{n.devminor}")
    if "xattrs" in c.what:
        parts.append("xattrs " + (",".join(o.xattrs) or "—") + " → " + (",".join(n.xattrs) or "—"))
    if "mtime" in c.what:
        parts.append("mtime")
    return esc("; ".join(parts))


_MARK = {"added": "+", "removed": "−", "changed": "~"}


def render(snapshot, against, *, path: str = ROOT, limit: int = 0, title: str | None = None,
           more_url: str | None = None, **_ignored) -> str:
    """Render the changes from ``against`` (the base) to ``snapshot``."""
    counts, changes = compare(against.tree, snapshot.tree, path)
    total = sum(counts.values())
    shown = list(islice(changes, limit)) if limit and limit > 0 else list(changes)
    head = (f' <code>{esc(against.name)}</code> → <code>{esc(snapshot.name)}</code>'
            f' <span class="imagefs-add">+{counts["added"]}</span>'
            f' <span class="imagefs-del">−{counts["removed"]}</span>'
            f' <span class="imagefs-mod">~{counts["changed"]}</span>')
    out = [f'<div class="imagefs imagefs-diff" data-imagefs-snapshot="{esc(snapshot.name)}" data-search-exclude>',
           title_bar(title, "", head) if title else f'<div class="imagefs-title">{head.strip()}</div>',
           '<ul class="imagefs-changes">']
    for c in shown:
        e = c.new or c.old
        detail = f' <span class="imagefs-what">{_describe(c)}</span>' if c.kind == "changed" else ""
        out.append(f'<li id="{anchor_id(snapshot.name, c.path)}-diff" class="imagefs-{c.kind} imagefs-{e.type}">'
                   f'<span class="imagefs-mark">{_MARK[c.kind]}</span> '
                   f'{esc(c.path)}{detail}</li>')
    if not total:
        out.append('<li class="imagefs-same">no differences</li>')
    out.append("</ul>")
    out.append(more(total - len(shown), more_url))
    out.append("</div>")
    return "\n".join(x for x in out if x)

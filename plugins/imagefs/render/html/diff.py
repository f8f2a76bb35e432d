"""The ``diff`` view: what changed from one snapshot (``against``, the base) to another.

Added, removed and changed paths, coloured, with counts. A change lists what differs
(type, mode, owner, size, link target, device, xattrs); mtime alone is not a change,
since rebuilding an image touches every mtime.

The comparison here is a private one (:func:`compare`): the render helper's shared
``imagefs.diff.diff_trees`` had not landed when this view was written. It only needs
added/removed/changed paths in path order, which is what ``compare`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...tree import ROOT, Entry, Tree
from .markup import anchor_id, esc, human_size, mode_string, more, title_bar

_FIELDS = ("type", "mode", "uid", "gid", "size", "target", "devmajor", "devminor", "xattrs")


@dataclass(slots=True)
class Change:
    path: str
    kind: str  # added | removed | changed
    old: Entry | None = None
    new: Entry | None = None
    what: list[str] = field(default_factory=list)


def _within(path: str, root: str) -> bool:
    return root == ROOT or path == root or path.startswith(root + "/")


def compare(base: Tree, other: Tree, path: str = ROOT) -> list[Change]:
    """Changes from ``base`` to ``other`` below ``path``, sorted by path."""
    a = {e.path: e for e in base.entries() if _within(e.path, path)}
    b = {e.path: e for e in other.entries() if _within(e.path, path)}
    out: list[Change] = []
    for p in sorted(a.keys() | b.keys()):
        old, new = a.get(p), b.get(p)
        if old is None:
            out.append(Change(p, "added", new=new))
        elif new is None:
            out.append(Change(p, "removed", old=old))
        else:
            what = [f for f in _FIELDS if getattr(old, f) != getattr(new, f)]
            if what:
                out.append(Change(p, "changed", old, new, what))
    return out


def _describe(c: Change) -> str:
    o, n = c.old, c.new
    parts = []
    for f in c.what:
        if f in ("type", "mode"):
            if "type" in c.what and f == "mode":
                continue
            parts.append(f"{mode_string(o)} → {mode_string(n)}")
        elif f in ("uid", "gid"):
            if f == "gid" and "uid" in c.what:
                continue
            parts.append(f"owner {o.uid}:{o.gid} → {n.uid}:{n.gid}")
        elif f == "size":
            parts.append(f"size {human_size(o.size)} → {human_size(n.size)}")
        elif f == "target":
            parts.append(f"target {o.target or '—'} → {n.target or '—'}")
        elif f in ("devmajor", "devminor"):
            if f == "devminor" and "devmajor" in c.what:
                continue
            parts.append(f"device {o.devmajor},{o.devminor} → {n.devmajor},{n.devminor}")
        elif f == "xattrs":
            parts.append("xattrs " + (",".join(o.xattrs) or "—") + " → " + (",".join(n.xattrs) or "—"))
    return esc("; ".join(parts))


_MARK = {"added": "+", "removed": "−", "changed": "~"}


def render(snapshot, against, *, path: str = ROOT, limit: int = 0, title: str | None = None,
           more_url: str | None = None, **_ignored) -> str:
    """Render the changes from ``against`` (the base) to ``snapshot``."""
    changes = compare(against.tree, snapshot.tree, path)
    counts = {k: sum(1 for c in changes if c.kind == k) for k in _MARK}
    shown = changes[:limit] if limit and limit > 0 else changes
    head = (f' <code>{esc(against.name)}</code> → <code>{esc(snapshot.name)}</code>'
            f' <span class="imagefs-add">+{counts["added"]}</span>'
            f' <span class="imagefs-del">−{counts["removed"]}</span>'
            f' <span class="imagefs-mod">~{counts["changed"]}</span>')
    out = [f'<div class="imagefs imagefs-diff" data-imagefs-snapshot="{esc(snapshot.name)}">',
           title_bar(title, "", head) if title else f'<div class="imagefs-title">{head.strip()}</div>',
           '<ul class="imagefs-changes">']
    for c in shown:
        e = c.new or c.old
        detail = f' <span class="imagefs-what">{_describe(c)}</span>' if c.kind == "changed" else ""
        out.append(f'<li id="{anchor_id(snapshot.name, c.path)}-diff" class="imagefs-{c.kind} imagefs-{e.type}">'
                   f'<span class="imagefs-mark">{_MARK[c.kind]}</span> '
                   f'<span class="imagefs-n">{esc(c.path)}</span>{detail}</li>')
    if not changes:
        out.append('<li class="imagefs-same">no differences</li>')
    out.append("</ul>")
    out.append(more(len(changes) - len(shown), more_url))
    out.append("</div>")
    return "\n".join(x for x in out if x)

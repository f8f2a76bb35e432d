"""The ``diff`` view: what changed from one snapshot (``against``, the base) to another.

Added, removed and changed paths, coloured, with counts, in path order. The comparison
is the shared :func:`imagefs.diff.diff_trees` (the text ``imagefs diff`` reads the same
result): a change lists what differs (type, mode, owner, size, link target, device,
xattrs); mtime alone is not a change, since rebuilding an image touches every mtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def compare(base: Tree, other: Tree, path: str = ROOT) -> list[Change]:
    """Changes from ``base`` to ``other`` at and below ``path``, sorted by path."""
    d = diff_trees(base, other)
    out = [Change(e.path, "added", new=e) for e in d.added if _within(e.path, path)]
    out += [Change(e.path, "removed", old=e) for e in d.removed if _within(e.path, path)]
    out += [Change(c.path, "changed", c.old, c.new, c.fields) for c in d.changed if _within(c.path, path)]
    out.sort(key=lambda c: c.path)
    return out


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

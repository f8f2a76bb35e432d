"""The ``ls`` view: an ``ls -la`` style table of the directory at ``path``.

Columns: mode, owner (uid:gid), size (bytes, human size on hover), mtime (UTC), layer,
name with the link target. ``depth`` > 1 lists deeper entries with their relative path.
A ``path`` naming a non-directory lists just that entry.
"""

from __future__ import annotations

from typing import Iterable

from ...tree import BLOCK, CHAR, DIR, ROOT, parent_of
from .markup import anchor_id, date, esc, human_size, link_target, mode_string, more, owner, title_bar


def render(snapshot, *, path: str = ROOT, depth: int | None = 1, limit: int = 0,
           highlight: Iterable[str] = (), title: str | None = None, more_url: str | None = None,
           **_ignored) -> str:
    tree = snapshot.tree
    name = snapshot.name
    hl = set(highlight)
    start = tree.get(path)
    if start is not None and start.type != DIR:
        rows = [start]
        base = parent_of(path)
    else:
        rows = [e for _, e in tree.walk(path, depth or 1)]
        base = path
    total = len(rows)
    shown = rows[:limit] if limit and limit > 0 else rows
    prefix = "" if base == ROOT else base
    out = [f'<div class="imagefs imagefs-ls" data-imagefs-snapshot="{esc(name)}" data-search-exclude>',
           title_bar(title, name, f' <code>ls -la {esc(path)}</code>'),
           '<table class="imagefs-table"><thead><tr><th>Mode</th><th>Owner</th>'
           '<th class="imagefs-num">Size</th><th>Modified (UTC)</th><th class="imagefs-num">Layer</th>'
           '<th>Name</th></tr></thead><tbody>']
    for e in shown:
        rel = e.path[len(prefix) + 1:] if e.path.startswith(prefix + "/") else e.name
        cls = f"imagefs-{e.type}" + (" imagefs-hl" if e.path in hl else "")
        if e.type in (CHAR, BLOCK):
            size = f"{e.devmajor}, {e.devminor}"
            size_title = "device numbers"
        else:
            size = str(e.size)
            size_title = human_size(e.size)
        out.append(
            f'<tr id="{anchor_id(name, e.path)}-ls" class="{cls}"><td>{mode_string(e)}</td>'
            f'<td>{owner(e)}</td><td class="imagefs-num" title="{size_title}">{size}</td>'
            f'<td>{date(e.mtime)}</td><td class="imagefs-num">{e.layer if e.layer >= 0 else ""}</td>'
            f'<td>{esc(rel)}{link_target(e)}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append(more(total - len(shown), more_url))
    out.append("</div>")
    return "\n".join(x for x in out if x)


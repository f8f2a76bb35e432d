"""The ``tree`` view: a collapsible tree of ``<details>``/``<summary>``, usable without JavaScript.

Each entry is an ``<li>`` with a per-path anchor (``id="imagefs-<snapshot>-/etc/passwd"``),
a type class (``imagefs-dir``, ``imagefs-file``, ``imagefs-symlink``...) that the CSS turns
into a marker, the link target, a human size, and mode/owner/layer on hover (``title``).
A directory whose children are shown is ``<details><summary>``; an empty one is marked
``imagefs-empty``, one cut by ``depth`` or the limit ``imagefs-cut``. Directories at
depth <= ``expand`` are open; highlighted paths are marked and their ancestors opened.
Listings longer than ``limit`` entries are cut with a visible "N more…" link.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable

from ...tree import DIR, FILE, HARDLINK, ROOT, parent_of
from .markup import anchor_id, entry_hover, esc, human_size, link_target, more, title_bar


def render(snapshot, *, path: str = ROOT, depth: int | None = None, limit: int = 0,
           highlight: Iterable[str] = (), expand: int = 1, title: str | None = None,
           more_url: str | None = None) -> str:
    """Render the subtree at ``path`` of ``snapshot`` (a :class:`imagefs.snapshot.Snapshot`)."""
    tree = snapshot.tree
    name = snapshot.name
    hl = set(highlight)
    opened: set[str] = set()
    for p in hl:
        while p != ROOT:
            p = parent_of(p)
            opened.add(p)

    walk = tree.walk(path, depth)
    if limit and limit > 0:
        shown = list(islice(walk, limit + 1))  # one more: does the last shown dir have children shown?
        hidden = sum(1 for _ in walk) + max(0, len(shown) - limit)
        shown = shown[:limit]
    else:
        shown, hidden = list(walk), 0
    out: list[str] = [f'<div class="imagefs imagefs-tree" data-imagefs-snapshot="{esc(name)}" data-search-exclude>']
    label = "" if path == ROOT else f' <code>{esc(path)}</code>'
    out.append(title_bar(title, name, label))
    out.append('<ul class="imagefs-root">')
    open_dirs = 0  # dirs whose <ul> is open, one per depth level above the current one
    for i, (d, e) in enumerate(shown):
        while open_dirs >= d:
            out.append("</ul></details></li>")
            open_dirs -= 1
        cls = f"imagefs-{e.type}"
        if e.path in hl:
            cls += " imagefs-hl"
        hover = entry_hover(e)
        aid = anchor_id(name, e.path)
        has_kids_shown = i + 1 < len(shown) and shown[i + 1][0] == d + 1
        if e.type == DIR and has_kids_shown:
            is_open = " open" if d <= expand or e.path in opened else ""
            out.append(f'<li id="{aid}" class="{cls}"><details{is_open}><summary title="{hover}">{esc(e.name)}'
                       "</summary><ul>")
            open_dirs += 1
        else:
            if e.type == DIR:
                cls += " imagefs-cut" if tree.child_names(e.path) else " imagefs-empty"
            # One element per leaf (plain-text target, one <small> for the size): listings are
            # large, and every tag costs the search indexer and the browser.
            target = link_target(e)
            size = f" <small>{human_size(e.size)}</small>" if e.type in (FILE, HARDLINK) else ""
            out.append(f'<li id="{aid}" class="{cls}" title="{hover}">{esc(e.name)}{target}{size}</li>')
    out.append("</ul></details></li>" * open_dirs)
    out.append("</ul>")
    out.append(more(hidden, more_url))
    out.append("</div>")
    return "\n".join(x for x in out if x)

"""Rendering a :class:`~imagefs.diff.TreeDiff` as text or JSON.

Text, one line per path in path order, then the counts::

    --- oci:old:latest sha256:1111…
    +++ oci:new:latest sha256:2222…
    + /etc/new.conf
    - /usr/share/doc/old
    ~ /etc/passwd (size 10 -> 12, mode 0644 -> 0600)
    ~ /bin/sh (target 'dash' -> 'bash')

    1 added, 1 removed, 2 changed

With ``collapse=True`` a directory added or removed as a whole is one line,
``+ /var/cache (and 212 entries below)``; the counts still count every path.

JSON (``dumps`` of :mod:`imagefs.render.json`, so the same encoding rules)::

    {"schema": 1, "a": {"reference": …, "manifest_digest": …}, "b": {…},
     "added": [entry…], "removed": [entry…],
     "changed": [{"path": …, "changes": {"size": [10, 12], …}, "old": entry, "new": entry}],
     "counts": {"added": 1, "removed": 1, "changed": 2}}

where ``entry`` is a JSON v1 entry. Modes are shown in octal in text, ints in JSON;
``device`` is ``[major, minor]``; ``mtime`` appears only when compared.
"""

from __future__ import annotations

from typing import Any

from ..diff import TreeDiff
from ..errors import UsageError
from ..names import visible
from ..tree import DIR, Entry, ImageInfo, parent_of
from . import json as _json
from .fields import format_iso


def _show(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name == "mode":
        return f"{value:04o}"
    if name == "target":
        return "'" + visible(value) + "'"
    if name == "device":
        return f"{value[0]},{value[1]}"
    if name == "xattrs":
        return "[" + ",".join(visible(x) for x in value) + "]"
    if name == "mtime":
        return format_iso(value)
    return visible(str(value))


def _image_line(mark: str, image: ImageInfo | None) -> str:
    if image is None:
        return f"{mark} (tree)"
    text = visible(image.reference or "(unnamed)")
    if image.manifest_digest:
        text += " " + image.manifest_digest
    return f"{mark} {text}"


def _collapsed(entries: list[Entry], mark: str, collapse: bool) -> list[tuple[str, str]]:
    """Rows for added or removed entries; with ``collapse``, one row per whole subtree."""
    if not collapse:
        return [(e.path, f"{mark} {visible(e.path)}") for e in entries]
    dirs = {e.path for e in entries if e.type == DIR}
    below: dict[str, int] = {}
    tops: list[Entry] = []
    for e in entries:
        top = None
        parent = parent_of(e.path)
        while parent != "/":
            if parent in dirs:
                top = parent
            parent = parent_of(parent)
        if top is None:
            tops.append(e)
        else:
            below[top] = below.get(top, 0) + 1
    rows = []
    for e in tops:
        n = below.get(e.path, 0)
        extra = f" (and {n} entr{'y' if n == 1 else 'ies'} below)" if n else ""
        rows.append((e.path, f"{mark} {visible(e.path)}{extra}"))
    return rows


def render_text(diff: TreeDiff, *, header: bool = True, collapse: bool = False) -> str:
    """The text form; ``collapse`` shows a wholly added or removed directory as one line."""
    rows: list[tuple[str, str]] = []
    rows.extend(_collapsed(diff.added, "+", collapse))
    rows.extend(_collapsed(diff.removed, "-", collapse))
    for c in diff.changed:
        what = ", ".join(f"{name} {_show(name, old)} -> {_show(name, new)}" for name, (old, new) in c.fields.items())
        rows.append((c.path, f"~ {visible(c.path)} ({what})"))
    rows.sort(key=lambda r: r[0])
    lines = []
    if header:
        lines += [_image_line("---", diff.a_image), _image_line("+++", diff.b_image)]
    lines += [r[1] for r in rows]
    n = diff.counts()
    if rows:
        lines.append("")
    lines.append(f"{n['added']} added, {n['removed']} removed, {n['changed']} changed")
    return "\n".join(lines) + "\n"


def _image_json(image: ImageInfo | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {"reference": image.reference, "manifest_digest": image.manifest_digest, "platform": image.platform}


def _jsonable(name: str, value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def to_json(diff: TreeDiff) -> dict[str, Any]:
    return {
        "schema": 1,
        "a": _image_json(diff.a_image),
        "b": _image_json(diff.b_image),
        "added": [e.to_json() for e in diff.added],
        "removed": [e.to_json() for e in diff.removed],
        "changed": [
            {
                "path": c.path,
                "changes": {k: [_jsonable(k, o), _jsonable(k, n)] for k, (o, n) in c.fields.items()},
                "old": c.old.to_json(),
                "new": c.new.to_json(),
            }
            for c in diff.changed
        ],
        "counts": diff.counts(),
    }


def render(diff: TreeDiff, fmt: str = "text", **opts: Any) -> str:
    """``fmt``: ``text`` or ``json``."""
    if fmt == "text":
        return render_text(diff, **opts)
    if fmt == "json":
        return _json.dumps(to_json(diff), **opts)
    raise UsageError(f"diff format {fmt!r}: expected text or json")

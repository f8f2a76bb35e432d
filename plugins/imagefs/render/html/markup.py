"""Safe HTML building blocks shared by the HTML views.

Every string that comes from an image (names, link targets, ``created_by``, config
values) or from an author's fence options goes through :func:`esc`, which first makes
invisible and deceptive characters visible (:func:`imagefs.names.visible`) and then
escapes ``& < > " '``. Anchors are built by :func:`anchor_id`: the path's bytes are
percent-encoded, so an id never holds a quote, a space, a control character or markup.
"""

from __future__ import annotations

import html
import re
import stat
import time
from urllib.parse import quote

from ...names import visible
from ...tree import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, Entry

_TYPE_CHAR = {DIR: "d", FILE: "-", SYMLINK: "l", HARDLINK: "h", CHAR: "c", BLOCK: "b", FIFO: "p"}
_SAFE = "/._-~+@,=:"
_PLAIN = re.compile(r"[A-Za-z0-9/._~+@,=:-]*\Z")  # nothing to encode: skip quote()


def esc(text: object) -> str:
    """Escape untrusted text for HTML element content and quoted attribute values."""
    return html.escape(visible(str(text)), quote=True)


def anchor_id(snapshot: str, path: str) -> str:
    """``imagefs-<snapshot>-/etc/passwd`` with the path's bytes percent-encoded."""
    if _PLAIN.match(path) is None:
        path = quote(path.encode("utf-8", "surrogateescape"), safe=_SAFE)
    return f"imagefs-{snapshot}-{path}"  # snapshot names are [a-z0-9][a-z0-9._-]*


def human_size(n: int | None) -> str:
    """``1536`` -> ``1.5 KiB`` (binary units, like ``ls -h``)."""
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def mode_string(entry: Entry) -> str:
    """``drwxr-xr-x``, ``-rwsr-xr-x``, ``drwxrwxrwt``: the ``ls -l`` mode column."""
    return _TYPE_CHAR.get(entry.type, "?") + stat.filemode(entry.mode & 0o7777)[1:]


def owner(entry: Entry) -> str:
    return f"{entry.uid}:{entry.gid}"


def date(mtime: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(mtime))  # 0 too: reproducible builds use the epoch


def entry_hover(entry: Entry) -> str:
    """The tooltip of a tree entry: mode, owner, size, layer (all escaped)."""
    parts = [mode_string(entry), owner(entry)]
    if entry.type in (FILE, HARDLINK):
        parts.append(f"{entry.size} bytes")
    if entry.type in (CHAR, BLOCK):
        parts.append(f"device {entry.devmajor},{entry.devminor}")
    if entry.layer >= 0:
        parts.append(f"layer {entry.layer}")
    if entry.has_capabilities:
        parts.append("capabilities")
    return esc(" · ".join(parts))


def link_target(entry: Entry) -> str:
    """`` → target`` for symlinks, `` ⇒ target`` for hardlinks (escaped), else empty."""
    if entry.target is None or entry.type not in (SYMLINK, HARDLINK):
        return ""
    arrow = "→" if entry.type == SYMLINK else "⇒"
    return f" {arrow} {esc(entry.target)}"


def more(hidden: int, url: str | None) -> str:
    """The visible ``N more…`` line of a truncated listing."""
    if hidden <= 0:
        return ""
    label = f"{hidden:,} more…"
    if url:
        return f'<p class="imagefs-more"><a href="{esc(url)}">{label}</a></p>'
    return f'<p class="imagefs-more">{label}</p>'


def title_bar(title: str | None, snapshot: str, extra: str = "") -> str:
    text = esc(title) if title else f'<code>{esc(snapshot)}</code>{extra}'
    return f'<div class="imagefs-title">{text}</div>'

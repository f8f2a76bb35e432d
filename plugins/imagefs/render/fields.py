"""Formatting entry fields the way the classic tools do, and finding a path in a tree.

- :func:`mode_string`: ``ls -l``'s ``drwsr-sr-t`` (setuid ``s``/``S``, sticky ``t``/``T``);
- :func:`human_size`: ``ls -h``'s sizes (powers of 1024, rounded up, ``4.0K``, ``12M``);
- :func:`format_time`: ``ls --time-style=long-iso`` in UTC (``2024-05-01 13:07``);
- :func:`lookup`: a user-given path in a tree, following symlinks in the image the way
  the kernel would (inside the image root), with a :class:`~imagefs.errors.NotFoundError`
  naming the nearest existing parent when the path is not there.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime
from functools import lru_cache

from ..errors import NotFoundError
from ..tree import BLOCK, CHAR, DIR, FIFO, HARDLINK, SYMLINK, Entry, Tree

_TYPE_CHAR = {DIR: "d", SYMLINK: "l", CHAR: "c", BLOCK: "b", FIFO: "p", HARDLINK: "-"}

MAX_SYMLINK_HOPS = 40


def mode_string(entry: Entry) -> str:
    """``-rwsr-xr-x`` for ``entry`` (a hardlink is a regular file: ``-``).

    A symlink is always ``lrwxrwxrwx``, as Linux shows every symlink, whatever mode the
    tar header recorded (JSON keeps the recorded mode).
    """
    return _mode_string(entry.type, entry.mode)


@lru_cache(maxsize=4096)
def _mode_string(etype: str, m: int) -> str:
    if etype == SYMLINK:
        return "lrwxrwxrwx"
    chars = [_TYPE_CHAR.get(etype, "-")]
    for shift, special, on, off in ((6, 0o4000, "s", "S"), (3, 0o2000, "s", "S"), (0, 0o1000, "t", "T")):
        bits = (m >> shift) & 7
        chars.append("r" if bits & 4 else "-")
        chars.append("w" if bits & 2 else "-")
        if m & special:
            chars.append(on if bits & 1 else off)
        else:
            chars.append("x" if bits & 1 else "-")
    return "".join(chars)


_UNITS = "KMGTPEZY"


def human_size(n: int) -> str:
    """Like ``ls -h``: under 1024 as is; else powers of 1024, always rounded up, with one
    decimal below 10 (``1025`` -> ``1.1K``, ``10241`` -> ``11K``, ``1048575`` -> ``1.0M``)."""
    if n < 1024:
        return str(n)
    for power, unit in enumerate(_UNITS, 1):
        div = 1024**power
        tenths = -(-n * 10 // div)
        if tenths < 100:
            return f"{tenths // 10}.{tenths % 10}{unit}"
        whole = -(-n // div)
        if whole < 1024:
            return f"{whole}{unit}"
    return str(n)


@lru_cache(maxsize=65536)
def format_time(mtime: int) -> str:
    """``YYYY-MM-DD HH:MM`` in UTC; ``????-??-?? ??:??`` for a time the calendar cannot show."""
    try:
        return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "????-??-?? ??:??"


def format_iso(mtime: int) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC (diffs and JSON-ish text)."""
    try:
        return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(mtime)


def normalize(path: str) -> str:
    """A user-given path as an absolute, normalised image path (``etc/`` -> ``/etc``)."""
    p = posixpath.normpath("/" + path.lstrip("/")) if path else "/"
    if p.startswith("//"):
        p = "/" + p.lstrip("/")
    return p


def lookup(tree: Tree, path: str, *, follow_last: bool = False, where: str = "the image") -> Entry:
    """The entry at ``path``, following symlinks of every component but the last.

    The last component is followed too when ``follow_last`` is true or the path ends
    with ``/`` (as ``ls`` does). Symlinks resolve inside the image root: ``..`` stops at
    ``/`` and absolute targets start at the image root. Raises NotFoundError naming
    ``where``, the path and its nearest existing parent.
    """
    follow_last = follow_last or (path.endswith("/") and path.strip("/") != "")
    todo = [c for c in normalize(path).split("/") if c]
    todo.reverse()
    current = "/"
    hops = 0
    while todo:
        name = todo.pop()
        if name == "..":
            current = posixpath.dirname(current) or "/"
            continue
        cand = ("" if current == "/" else current) + "/" + name
        entry = tree.get(cand)
        if entry is None:
            _not_found(tree, path, current, where)
        if entry.type == SYMLINK and (todo or follow_last):
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise NotFoundError(f"{where}: {_show(path)}: more than {MAX_SYMLINK_HOPS} symlinks to follow (a loop?)")
            target = entry.target or ""
            if target.startswith("/"):
                current = "/"
            todo.extend(reversed([c for c in target.split("/") if c and c != "."]))
            continue
        if todo and entry.type != DIR:
            _not_found(tree, path, cand, where, not_dir=True)
        current = cand
    found = tree.get(current)
    assert found is not None
    return found


def _show(path: str) -> str:
    from ..names import visible

    return visible(path)


def _not_found(tree: Tree, path: str, parent: str, where: str, not_dir: bool = False) -> None:
    if not_dir:
        raise NotFoundError(
            f"{where}: {_show(path)}: {_show(parent)} is not a directory; list {_show(parent)} to see what it is"
        )
    raise NotFoundError(
        f"{where}: no {_show(path)} in the image; the nearest existing parent is {_show(parent)} "
        f"(list it to see what is there)"
    )

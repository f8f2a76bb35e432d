"""``tree``-style listing of the merged filesystem.

Output follows ``tree(1)`` (``LC_ALL=C tree -a --noreport`` plus the report line)::

    /
    ├── bin -> usr/bin
    ├── etc
    │   └── passwd
    └── tmp

    2 directories, 2 files

Differences from ``tree(1)``, on purpose:

- names sort by code point (``LC_ALL=C``), so output does not depend on a locale;
- a symlink that resolves to a directory counts as a directory, as ``tree`` counts it,
  but it is resolved inside the image (an absolute target starts at the image root),
  never on the host;
- hidden names (dot files) are always shown, like ``tree -a``;
- the continuation prefix is ``│`` and three ordinary spaces (``tree`` 2.x writes two
  no-break spaces U+00A0 there, which copy and paste badly);
- the report counts the starting directory, as ``tree`` 2.x does;
- with ``markers=True`` a name gets `` [setuid]``, `` [setgid]``, `` [sticky]`` and
  `` [caps]`` (file capabilities) annotations, and `` [layer N]`` with ``layers=True``.

Every name and link target passes through :func:`imagefs.names.visible`.
"""

from __future__ import annotations

from ..errors import NotFoundError
from ..names import visible
from ..tree import DIR, SYMLINK, Entry, Tree
from .fields import lookup, normalize

BRANCH, LAST, PIPE, SPACE = "├── ", "└── ", "│   ", "    "


def label(entry: Entry, *, markers: bool = False, layers: bool = False) -> str:
    """The name as shown on a tree line: ``name``, ``name -> target`` and markers."""
    text = visible(entry.name)
    if entry.type == SYMLINK:
        text += " -> " + visible(entry.target or "")
    if markers:
        text += "".join(f" [{m}]" for m in entry_markers(entry))
    if layers and entry.layer >= 0:
        text += f" [layer {entry.layer}]"
    return text


def entry_markers(entry: Entry) -> list[str]:
    """The special things about an entry worth flagging: setuid, setgid, sticky, caps."""
    out = []
    if entry.type != SYMLINK:
        if entry.mode & 0o4000:
            out.append("setuid")
        if entry.mode & 0o2000:
            out.append("setgid")
        if entry.mode & 0o1000:
            out.append("sticky")
    if entry.has_capabilities:
        out.append("caps")
    return out


def _points_to_dir(tree: Tree, entry: Entry) -> bool:
    try:
        return lookup(tree, entry.path, follow_last=True).type == DIR
    except NotFoundError:
        return False


def render(
    tree: Tree,
    *,
    path: str = "/",
    depth: int | None = None,
    markers: bool = False,
    layers: bool = False,
    report: bool = True,
    where: str = "the image",
) -> str:
    """The tree below ``path`` (``depth`` levels; ``None``: all), as ``tree(1)`` draws it.

    ``path`` may go through symlinks in the image; a symlink to a directory as the last
    component is followed (as ``tree`` does for its argument).
    """
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be at least 1, not {depth}")
    try:
        start = lookup(tree, path, follow_last=True, where=where)
    except NotFoundError:
        start = lookup(tree, path, where=where)  # a dangling symlink: show the link itself
    head = visible(normalize(path))
    lines = [head]
    dirs = files = 0
    if start.type != DIR:
        files = 1
        if start.type == SYMLINK:
            lines[0] = head + " -> " + visible(start.target or "")
    else:
        dirs = 1  # tree(1) 2.x counts the directory it starts from
        # Iterative pre-order walk; `last` flags of the ancestors give the prefix.
        prefix_parts: list[str] = []
        stack: list[tuple[int, Entry, bool]] = []
        kids = tree.children(start.path)
        for i in range(len(kids) - 1, -1, -1):
            stack.append((1, kids[i], i == len(kids) - 1))
        while stack:
            d, entry, is_last = stack.pop()
            del prefix_parts[d - 1 :]
            lines.append("".join(prefix_parts) + (LAST if is_last else BRANCH) + label(entry, markers=markers, layers=layers))
            if entry.type == DIR:
                dirs += 1
                if depth is None or d < depth:
                    prefix_parts.append(SPACE if is_last else PIPE)
                    kids = tree.children(entry.path)
                    for i in range(len(kids) - 1, -1, -1):
                        stack.append((d + 1, kids[i], i == len(kids) - 1))
            elif entry.type == SYMLINK and _points_to_dir(tree, entry):
                dirs += 1
            else:
                files += 1
    if report:
        lines.append("")
        lines.append(f"{dirs} director{'y' if dirs == 1 else 'ies'}, {files} file{'' if files == 1 else 's'}")
    return "\n".join(lines) + "\n"

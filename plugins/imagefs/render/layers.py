"""One row per layer: what each layer adds, changes, deletes and wastes.

::

    #  DIGEST        SIZE  ENTRIES  ADDED  MODIFIED  DELETED  WASTED  CREATED BY
    0  3f2a9c1d0b7e  28M      1721   1721         0        0    1.2M  ADD file:… in /
    1  a91b2c3d4e5f  4.0K        3      2         1        0       0  RUN apt-get …

    2 layers, 28M compressed, 1.2M wasted

``SIZE`` is the compressed blob size and ``WASTED`` the file bytes a later layer hides
(both ``ls -h`` sizes); ``DIGEST`` the first 12 hex digits of the blob digest.
``CREATED BY`` is the config history line with runs of white space (heredocs, line
continuations) folded to one space, a leading ``/bin/sh -c #(nop)`` dropped, made
visible with :func:`imagefs.names.visible`, and cut to ``width`` characters
(``None``: no limit).
"""

from __future__ import annotations

from ..names import visible
from ..tree import LayerInfo, Tree
from .fields import human_size

HEADERS = ("#", "DIGEST", "SIZE", "ENTRIES", "ADDED", "MODIFIED", "DELETED", "WASTED", "CREATED BY")
_LEFT = {1, 8}  # left-aligned columns
_NOP = "/bin/sh -c #(nop) "


def short_digest(digest: str | None) -> str:
    if not digest:
        return "-"
    return digest.split(":", 1)[-1][:12]


def created_by(text: str | None, width: int | None = 60) -> str:
    if not text:
        return ""
    s = " ".join(text.split())
    if s.startswith(_NOP.strip()):
        s = s[len(_NOP.strip()) :].lstrip()
    s = visible(s)
    if width is not None and len(s) > width:
        s = s[: max(width - 3, 0)] + "..."
    return s


def row(layer: LayerInfo, width: int | None) -> tuple[str, ...]:
    return (
        str(layer.index),
        short_digest(layer.digest),
        human_size(layer.size or 0),
        str(layer.entries),
        str(layer.added),
        str(layer.modified),
        str(layer.deleted),
        human_size(layer.wasted or 0),
        created_by(layer.created_by, width),
    )


def render(tree: Tree, *, width: int | None = 60, report: bool = True) -> str:
    """The layer table of ``tree.image`` (an image without layers gives the header only)."""
    layers = list(tree.image.layers) if tree.image else []
    rows = [HEADERS] + [row(layer, width) for layer in layers]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    lines = []
    for r in rows:
        cells = []
        for i, cell in enumerate(r):
            if i == len(HEADERS) - 1:
                cells.append(cell)
            elif i in _LEFT or i == 0:
                cells.append(cell.ljust(widths[i]))
            else:
                cells.append(cell.rjust(widths[i]))
        lines.append("  ".join(cells).rstrip())
    if report:
        total = sum(layer.size or 0 for layer in layers)
        wasted = sum(layer.wasted or 0 for layer in layers)
        lines.append("")
        lines.append(
            f"{len(layers)} layer{'' if len(layers) == 1 else 's'}, {human_size(total)} compressed, "
            f"{human_size(wasted)} wasted"
        )
    return "\n".join(lines) + "\n"

"""The ``layers`` view: one row per layer with its command, sizes, counts and a size bar.

The bar's width is the layer's share of the largest layer (compressed size), so the
heavy layers stand out. ``wasted`` is the bytes a later layer hides or replaces.
"""

from __future__ import annotations

from .markup import esc, human_size, title_bar

_CMD_MAX = 120


def render(snapshot, *, title: str | None = None, **_ignored) -> str:
    image = snapshot.tree.image
    layers = image.layers if image else []
    name = snapshot.name
    biggest = max((layer.size or 0 for layer in layers), default=0) or 1
    out = [f'<div class="imagefs imagefs-layers" data-imagefs-snapshot="{esc(name)}">',
           title_bar(title, name, f" · {len(layers)} layer{'s' if len(layers) != 1 else ''}"),
           '<table class="imagefs-table"><thead><tr><th class="imagefs-num">#</th><th>Created by</th>'
           '<th class="imagefs-num">Size</th><th class="imagefs-bar-col"></th>'
           '<th class="imagefs-num" title="entries">Entries</th>'
           '<th class="imagefs-num" title="added / modified / deleted paths">+ / ~ / −</th>'
           '<th class="imagefs-num" title="bytes hidden or replaced by later layers">Wasted</th>'
           "</tr></thead><tbody>"]
    for layer in layers:
        cmd = layer.created_by or ""
        short = cmd if len(cmd) <= _CMD_MAX else cmd[: _CMD_MAX - 1] + "…"
        pct = round(100 * (layer.size or 0) / biggest, 1)
        unc = f" ({human_size(layer.uncompressed_size)} uncompressed)" if layer.uncompressed_size else ""
        out.append(
            f'<tr><td class="imagefs-num">{layer.index}</td>'
            f'<td><code class="imagefs-cmd" title="{esc(cmd)}">{esc(short)}</code><br>'
            f'<small class="imagefs-digest" title="{esc(layer.digest)}">{esc(layer.digest[:19])}</small></td>'
            f'<td class="imagefs-num" title="{layer.size} bytes{esc(unc)}">{human_size(layer.size)}</td>'
            f'<td class="imagefs-bar-col"><span class="imagefs-bar" style="width:{pct}%"></span></td>'
            f'<td class="imagefs-num">{layer.entries}</td>'
            f'<td class="imagefs-num"><span class="imagefs-add">+{layer.added}</span> '
            f'<span class="imagefs-mod">~{layer.modified}</span> '
            f'<span class="imagefs-del">−{layer.deleted}</span></td>'
            f'<td class="imagefs-num" title="{layer.wasted} bytes">{human_size(layer.wasted)}</td></tr>'
        )
    out.append("</tbody></table></div>")
    return "\n".join(out)

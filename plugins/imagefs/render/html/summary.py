"""The ``summary`` view: a card with reference, digest, platform, layers, files, size and date."""

from __future__ import annotations

from ...tree import DIR
from .markup import esc, human_size


def render(snapshot, *, title: str | None = None, page_url: str | None = None,
           json_url: str | None = None, **_ignored) -> str:
    tree = snapshot.tree
    image = tree.image
    stats = tree.stats()
    digest = snapshot.manifest_digest or ""
    short = digest.split(":", 1)[-1][:12] if digest else "—"
    files = stats["entries"] - stats[DIR]
    rows = [
        ("Reference", f"<code>{esc(snapshot.reference)}</code>"),
        ("Digest", f'<code title="{esc(digest)}">{esc(short)}</code>' if digest else "—"),
        ("Platform", esc(snapshot.platform or (image.platform if image else "") or "—")),
        ("Layers", str(len(image.layers) if image else 0)),
        ("Files", f"{files:,} <small>and {stats[DIR]:,} directories</small>"),
        ("Total size", f'<span title="{stats["total_size"]} bytes">{human_size(stats["total_size"])}</span>'),
        ("Generated", esc(snapshot.generated_at or "—")),
    ]
    heading = esc(title) if title else f"<code>{esc(snapshot.name)}</code>"
    links = []
    if page_url:
        links.append(f'<a href="{esc(page_url)}">browse</a>')
    if json_url:
        links.append(f'<a href="{esc(json_url)}" download>JSON</a>')
    foot = f'<div class="imagefs-links">{" · ".join(links)}</div>' if links else ""
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (f'<div class="imagefs imagefs-summary" data-imagefs-snapshot="{esc(snapshot.name)}">'
            f'<div class="imagefs-title">{heading}</div><dl>{body}</dl>{foot}</div>')

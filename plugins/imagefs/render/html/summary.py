"""The ``summary`` view: a card with reference, digest, platform, layers, paths by kind, file bytes and date."""

from __future__ import annotations

from ...tree import DIR, FILE, HARDLINK, SYMLINK
from .markup import esc, human_size


def render(snapshot, *, title: str | None = None, page_url: str | None = None,
           json_url: str | None = None, **_ignored) -> str:
    tree = snapshot.tree
    image = tree.image
    stats = tree.stats()
    digest = snapshot.manifest_digest or ""
    short = digest.split(":", 1)[-1][:12] if digest else "—"
    others = stats["entries"] - stats[DIR] - stats[FILE] - stats[SYMLINK] - stats[HARDLINK]
    kinds = [(stats[FILE] + stats[HARDLINK], "file", "files"), (stats[DIR], "directory", "directories"),
             (stats[SYMLINK], "symlink", "symlinks"), (others, "other", "other")]
    detail = ", ".join(f"{n:,} {one if n == 1 else many}" for n, one, many in kinds if n)
    rows = [
        ("Reference", f"<code>{esc(snapshot.reference)}</code>"),
        ("Digest", f'<code title="{esc(digest)}">{esc(short)}</code>' if digest else "—"),
        ("Platform", esc(snapshot.platform or (image.platform if image else "") or "—")),
        ("Layers", str(len(image.layers) if image else 0)),
        ("Paths", f"{stats['entries']:,} <small>{detail}</small>" if detail else "0"),
        ("File bytes", f'<span title="{stats["total_size"]:,} bytes">{human_size(stats["total_size"])}</span>'),
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

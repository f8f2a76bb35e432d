"""Keep snapshots live: rebuild changed recipes, re-resolve digests, regenerate what drifted.

:func:`refresh` walks the listings config (:mod:`imagefs.listings`):

1. entries with a ``recipe`` are built first (:func:`imagefs.recipes.build_recipe` skips a
   recipe whose input key is unchanged), sequentially, since they share the .deb cache;
2. every selected image is resolved to its manifest digest (a registry answers a manifest
   HEAD/GET, no blob is read), in parallel with at most ``jobs`` workers;
3. only snapshots whose stored ``manifest_digest`` differs (or that are missing, or whose
   config entry now names another reference or platform) are listed
   and rewritten, each with :func:`imagefs.snapshot.write_snapshot` (atomic: temp file and
   ``os.replace``), so an interrupted refresh leaves every snapshot old or new.

``check=True`` writes no snapshot (recipes are still built into ``build/``, which is a cache)
and reports stale and missing ones. :func:`summary_markdown` renders the outcomes as the
Markdown body of the refresh pull request.
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ImagefsError, NotFoundError, UsageError
from .listings import Config, Listing

log = logging.getLogger(__name__)

LOCAL_TRANSPORTS = ("oci", "oci-archive", "docker-archive")

# Outcome states.
UNCHANGED, UPDATED, CREATED, STALE, MISSING, SKIPPED, FAILED = (
    "unchanged", "updated", "created", "stale", "missing", "skipped", "failed")


@dataclass
class Outcome:
    name: str
    image: str
    status: str
    old_digest: str | None = None
    new_digest: str | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    size_delta: int | None = None
    message: str = ""
    recipe_built: bool = False

    @property
    def drifted(self) -> bool:
        return self.status in (UPDATED, CREATED, STALE, MISSING)


def parse_shard(text: str) -> tuple[int, int]:
    """``I/N`` (1-based) -> (I, N)."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, for example 1/4") from None
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text!r}: I must be between 1 and N")
    return i, n


def select(config: Config, *, only: list[str] | None = None, shard: tuple[int, int] | None = None) -> list[Listing]:
    entries = list(config.listings)
    if only:
        entries = [config.get(n) for n in only]  # raises for unknown names
    if shard:
        i, n = shard
        entries = [e for k, e in enumerate(entries) if k % n == i - 1]
    return entries


def is_registry(image: str) -> bool:
    from .reference import parse

    return parse(image).transport == "docker"


def local_ref(image: str, root: Path) -> str:
    """``oci:build/images/x:latest`` relative to the project ``root`` -> an absolute path ref."""
    transport, sep, rest = image.partition(":")
    if sep and transport in LOCAL_TRANSPORTS and not rest.startswith("/"):
        return f"{transport}:{root / rest}"
    return image


def _size(tree: Any) -> int:
    return int(tree.stats()["total_size"])


def refresh(
    config: Config,
    *,
    snapshots_dir: str | os.PathLike[str],
    root: str | os.PathLike[str] = ".",
    build_dir: str | os.PathLike[str] | None = None,
    check: bool = False,
    only: list[str] | None = None,
    shard: tuple[int, int] | None = None,
    offline: bool = False,
    jobs: int = 2,
    progress: Any = None,
    source_options: dict[str, Any] | None = None,
    on_written: Callable[[Outcome], None] | None = None,
    force: bool = False,
) -> list[Outcome]:
    """Bring the selected snapshots up to date (or, with ``check``, report which are not)."""
    force = force and not check  # --check never writes, so it never re-lists an up-to-date image
    root = Path(root).resolve()
    build = Path(build_dir) if build_dir else root / "build"
    entries = select(config, only=only, shard=shard)
    outcomes: dict[str, Outcome] = {}
    built: set[str] = set()

    recipe_names = sorted({e.recipe for e in entries if e.recipe})
    if recipe_names:
        from . import recipes

        ctx = recipes.Context(build)
        for name in recipe_names:
            try:
                if recipes.build_recipe(name, ctx).built:
                    built.add(name)
            except ImagefsError as err:
                for e in entries:
                    if e.recipe == name:
                        outcomes[e.name] = Outcome(e.name, e.image, FAILED, message=f"recipe {name}: {err}")

    todo = []
    for e in entries:
        if e.name in outcomes:
            continue
        if offline and is_registry(e.image):
            log.warning("%s: skipped (--offline and %s is a registry image)", e.name, e.image)
            outcomes[e.name] = Outcome(e.name, e.image, SKIPPED, message="offline: registry image not checked")
            continue
        todo.append(e)

    stop = threading.Event()  # set by the first unexpected failure: no further snapshot is written

    def one(e: Listing) -> Outcome:
        try:
            if stop.is_set():
                raise _Cancelled()
            out = _refresh_one(e, snapshots_dir=snapshots_dir, root=root, check=check, progress=progress,
                               source_options=source_options or {}, stop=stop, force=force)
            out.recipe_built = bool(e.recipe and e.recipe in built)
            if out.status in (UPDATED, CREATED) and on_written:
                on_written(out)
            return out
        except _Cancelled:
            raise
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="refresh") as pool:
        futures = {pool.submit(one, e): e for e in todo}
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for f in pending:
            f.cancel()
        for f, entry in futures.items():
            if f.cancelled():
                continue
            exc = f.exception()
            if isinstance(exc, _Cancelled):
                continue
            if exc is not None:
                raise exc
            outcomes[entry.name] = f.result()
    return [outcomes[e.name] for e in entries if e.name in outcomes]


class _Cancelled(Exception):
    """Another worker failed: this one stops before writing anything."""


def _refresh_one(e: Listing, *, snapshots_dir, root: Path, check: bool, progress, source_options,
                 stop: threading.Event, force: bool = False) -> Outcome:
    from .diff import diff_trees
    from .listing import list_image
    from .snapshot import load_snapshot, write_snapshot
    from .sources import open_image

    old = None
    try:
        old = load_snapshot(snapshots_dir, e.name)
    except NotFoundError:
        pass
    except ImagefsError as err:  # a corrupt snapshot is regenerated
        log.warning("%s: existing snapshot unreadable (%s); regenerating", e.name, err)
    old_bytes = old.path.read_bytes() if old is not None else b""
    out = Outcome(e.name, e.image, UNCHANGED, old_digest=old.manifest_digest if old else None)
    try:
        ref = local_ref(e.image, root)
        opts = dict(source_options) if is_registry(e.image) else {}
        with open_image(ref, e.platform, **opts) as image:
            out.new_digest = image.manifest_digest
            if (not force and old is not None and old.manifest_digest == out.new_digest
                    and old.reference == e.image and (e.platform is None or old.platform == e.platform)):
                return out  # same image, same config entry: nothing to write
            if check:
                out.status = MISSING if old is None else STALE
                return out
            tree = list_image(image, progress=progress)
    except ImagefsError as err:
        out.status, out.message = FAILED, str(err)
        return out
    if tree.image is not None:
        tree.image.reference = e.image  # the config's portable name, not this machine's absolute path
    platform = e.platform or (tree.image.platform if tree.image else None)
    if stop.is_set():
        raise _Cancelled()
    path = write_snapshot(snapshots_dir, e.name, tree, reference=e.image, platform=platform)
    if old is not None and force and path.read_bytes() == old_bytes:
        return out  # --force re-listed an image whose snapshot was already exact
    out.status = CREATED if old is None else UPDATED
    if old is not None:
        d = diff_trees(old.tree, tree)
        out.added = [x.path for x in d.added]
        out.removed = [x.path for x in d.removed]
        out.changed = [c.path for c in d.changed]
        out.size_delta = _size(tree) - _size(old.tree)
    else:
        out.added = [x.path for x in tree.entries()]
        out.size_delta = _size(tree)
    return out


# --- the pull-request body ----------------------------------------------------------------


def _visible(text: str) -> str:
    from .names import visible

    return visible(text)


def _code(text: str | None) -> str:
    return f"<code>{html.escape(_visible(text or '-'))}</code>"


def _bytes(n: int) -> str:
    sign = "+" if n >= 0 else "-"
    v = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{sign}{v:.1f} {unit}" if unit != "B" else f"{sign}{v} B"
        v /= 1024
    return f"{sign}{v} B"  # pragma: no cover


def summary_markdown(outcomes: list[Outcome], *, limit: int = 20, check: bool = False) -> str:
    """The Markdown summary: one section per drifted or failed snapshot, a count line for the rest.

    Paths come from image content and are untrusted: they are shown through
    :func:`imagefs.names.visible` inside HTML-escaped ``<code>`` spans.
    """
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    head = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no snapshots selected"
    lines = [f"## imagefs refresh{' --check' if check else ''}: {head}", ""]
    for o in outcomes:
        if o.status in (UNCHANGED,):
            continue
        lines.append(f"### {_code(o.name)}: {o.status}")
        lines.append("")
        lines.append(f"- image: {_code(o.image)}")
        if o.status in (FAILED, SKIPPED):
            lines.append(f"- {html.escape(_visible(o.message))}")
            lines.append("")
            continue
        lines.append(f"- digest: {_code(o.old_digest)} → {_code(o.new_digest)}")
        if o.recipe_built:
            lines.append("- recipe rebuilt: its inputs (package versions, recipe code, tools) changed")
        if o.status == CREATED:
            lines.append(f"- new snapshot: {len(o.added)} entries, {_bytes(o.size_delta or 0)} of files")
        elif o.status == UPDATED:
            lines.append(f"- files: {len(o.added)} added, {len(o.removed)} removed, {len(o.changed)} changed; "
                         f"size {_bytes(o.size_delta or 0)}")
            for label, paths in (("added", o.added), ("removed", o.removed), ("changed", o.changed)):
                if not paths:
                    continue
                shown = ", ".join(_code(p) for p in paths[:limit])
                more = f" … and {len(paths) - limit} more" if len(paths) > limit else ""
                lines.append(f"  - {label}: {shown}{more}")
        lines.append("")
    unchanged = [o.name for o in outcomes if o.status == UNCHANGED]
    if unchanged:
        lines.append(f"Unchanged: {', '.join(_code(n) for n in unchanged)}")
        lines.append("")
    return "\n".join(lines)

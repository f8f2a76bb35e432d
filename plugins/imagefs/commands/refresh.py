"""``imagefs refresh``: rebuild changed recipes and regenerate the snapshots that drifted.

Reads the listings config (``docs/snapshots/listings.yml``), prints a Markdown summary on
stdout (the refresh pull request's body; ``--summary FILE`` also writes it to a file) and
exits 1 when ``--check`` finds a stale or missing snapshot, or when any image failed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "refresh",
        help="rebuild changed recipes and regenerate drifted snapshots (docs/snapshots/listings.yml)",
        description="Resolve every image of the listings config to its digest and regenerate only the "
        "snapshots whose digest changed. Prints a Markdown summary.",
    )
    p.add_argument("--config", default="docs/snapshots/listings.yml", help="listings config (default: %(default)s)")
    p.add_argument("--dir", default=None, help="snapshot directory (default: the config's directory)")
    p.add_argument("--docs", default="docs", help="articles to cross-check against the config (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="write no snapshot; exit 1 if any is stale or missing")
    p.add_argument("--only", action="append", metavar="NAME", help="refresh only this snapshot (repeatable)")
    p.add_argument("--shard", metavar="I/N", help="refresh the I-th of N slices of the config (CI matrix)")
    p.add_argument("--force", action="store_true",
                   help="re-list every selected image even if its digest is unchanged (after an engine change); "
                   "files whose bytes stay the same are not touched")
    p.add_argument("--offline", action="store_true", help="skip registry images (with a warning)")
    p.add_argument("--recipes-only", action="store_true", help="only snapshots built from recipes")
    p.add_argument("--jobs", type=int, default=2, metavar="N", help="images resolved/listed in parallel (default: %(default)s)")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="paths shown per list in the summary (default: %(default)s)")
    p.add_argument("--summary", metavar="FILE", help="also write the Markdown summary to FILE")
    p.add_argument("--build-dir", default="build", help="recipe build and .deb cache directory (default: %(default)s)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from .. import listings, progress
    from ..errors import UsageError
    from ..refresh import FAILED, parse_shard, refresh, summary_markdown

    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    if args.force and args.check:
        raise UsageError("--force and --check cannot be combined: --check never writes")
    shard = parse_shard(args.shard) if args.shard else None  # bad options fail before any work
    config, warnings = listings.validate(args.config, args.docs)
    for w in warnings:
        log.warning("%s", w)
    only = args.only
    if args.recipes_only:
        names = [e.name for e in config.listings if e.recipe]
        only = [n for n in (only or names) if n in names]
        if not only:
            print("## imagefs refresh: no recipe-built snapshots selected")
            return 0
    bar = progress.progress_for(sys.stderr)
    try:
        outcomes = refresh(
            config, snapshots_dir=args.dir or Path(args.config).parent, root=".", build_dir=args.build_dir,
            check=args.check, only=only, shard=shard, offline=args.offline, jobs=args.jobs, progress=bar,
            force=args.force,
        )
    finally:
        if bar is not None:
            bar.close()
    text = summary_markdown(outcomes, limit=args.limit, check=args.check)
    print(text)
    if args.summary:
        _write_summary(Path(args.summary), text)
    failed = [o for o in outcomes if o.status == FAILED]
    for o in failed:
        log.error("%s: %s", o.name, o.message)
    if failed or (args.check and any(o.drifted for o in outcomes)):
        return 1
    return 0


def _write_summary(path: Path, text: str) -> None:
    """Write the --summary file atomically; an unwritable path is a one-line usage error."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        from ..errors import UsageError

        raise UsageError(f"--summary {path}: cannot write it ({err.strerror}); give a file path you can write to") from err

"""``imagefs snapshot NAME IMAGE``: write or refresh one snapshot for the docs.

The listing is taken with :func:`imagefs.listing.list_image` and stored by
:func:`imagefs.snapshot.write_snapshot` in ``docs/snapshots/NAME.json`` (``--dir`` to
change). An unchanged image leaves the file byte-for-byte as it was.
"""

from __future__ import annotations

import argparse
import sys

from ..snapshot import DEFAULT_DIR, check_name, write_snapshot


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "snapshot",
        help="write or refresh a snapshot (docs/snapshots/NAME.json) for the imagefs fence",
        description="List IMAGE and store the listing as docs/snapshots/NAME.json, pinned to its manifest digest.",
    )
    p.add_argument("name", metavar="NAME", help="snapshot name: lowercase letters, digits, '.', '_', '-'")
    p.add_argument("image", metavar="IMAGE", help="image reference: registry name, oci:DIR[:TAG], docker-archive:FILE")
    p.add_argument("--platform", metavar="P", help="platform to pick from a multi-platform image (e.g. linux/arm64)")
    p.add_argument("--dir", metavar="DIR", default=str(DEFAULT_DIR), help="snapshot directory (default: %(default)s)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    name = check_name(args.name)  # before any I/O: a typo fails fast
    from ..listing import list_image
    from ..sources import open_image

    image = open_image(args.image, platform=args.platform)
    tree = list_image(image)
    platform = args.platform or (tree.image.platform if tree.image else None)
    path = write_snapshot(args.dir, name, tree, reference=args.image, platform=platform)
    print(path, file=sys.stdout)
    return 0

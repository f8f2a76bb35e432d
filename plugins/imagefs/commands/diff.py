"""``imagefs diff IMAGE_A IMAGE_B``: paths added, removed and changed from A to B."""

from __future__ import annotations

import argparse

from . import _common
from ._common import add_image_options, emit


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diff",
        help="compare two images' filesystems",
        description="Compare the merged filesystems of two images: added (+), removed (-) and changed (~) "
        "paths, with what changed (type, mode, owner, size, link target; mtime with --mtime).",
    )
    p.add_argument("image_a", metavar="IMAGE_A")
    p.add_argument("image_b", metavar="IMAGE_B")
    p.add_argument("-f", "--format", choices=("text", "json"), default="text", help="output format (default text)")
    p.add_argument("--mtime", action="store_true", help="also report modification times that differ")
    p.add_argument("--collapse", action="store_true",
                   help="text: show a directory added or removed as a whole as one line")
    add_image_options(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..diff import diff_trees
    from ..render.diff import render

    a = _common.list_tree(args, args.image_a)
    b = _common.list_tree(args, args.image_b)
    diff = diff_trees(a, b, mtime=args.mtime)
    emit(render(diff, "json") if args.format == "json" else render(diff, "text", collapse=args.collapse))
    return 0

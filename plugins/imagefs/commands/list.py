"""``imagefs list IMAGE [PATH]``: the merged filesystem as a tree, ls -la, JSON or layer table."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..render import FORMATS
from . import _common
from ._common import add_image_options, emit, non_negative_int, positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "list",
        add_help=False,
        help="list an image's merged filesystem",
        description="List the merged root filesystem of IMAGE (oci:DIR[:TAG], oci-archive:FILE[:TAG], "
        "docker-archive:FILE[:REPO:TAG], docker://REF) without running it.",
    )
    p.add_argument("--help", action="help", help="show this help and exit")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("path", metavar="PATH", nargs="?", default="/", help="directory or file to list (default /)")
    p.add_argument("-f", "--format", choices=FORMATS, default="tree", help="output format (default tree)")
    p.add_argument("-L", "--depth", type=positive_int, metavar="N", help="levels to show (tree, json, ls -R)")
    p.add_argument("-R", "--recursive", action="store_true", help="ls: list subdirectories too (ls -laR)")
    p.add_argument("-h", "--human-readable", dest="human", action="store_true", help="ls: sizes like 4.0K, 12M")
    p.add_argument("-A", "--almost-all", action="store_true", help="ls: leave out . and ..")
    p.add_argument("--markers", action="store_true", help="tree: flag setuid, setgid, sticky and file capabilities")
    p.add_argument("--show-layer", action="store_true", help="tree: show the layer that last wrote each entry")
    p.add_argument("--width", type=non_negative_int, default=60, metavar="N", help="layers: cut CREATED BY to N characters (0: no limit)")
    add_image_options(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    if args.format == "layers" and args.path not in ("/", ""):
        raise UsageError("--format layers describes the whole image; leave out PATH")
    tree = _common.list_tree(args, args.image)
    emit(render(tree, args))
    return 0


def render(tree, args: argparse.Namespace) -> str:
    where = args.image
    if args.format == "tree":
        from ..render import tree as r

        return r.render(tree, path=args.path, depth=args.depth, markers=args.markers, layers=args.show_layer, where=where)
    if args.format == "ls":
        from ..render import ls as r

        return r.render(tree, path=args.path, recursive=args.recursive, human=args.human,
                        dots=not args.almost_all, depth=args.depth, where=where)
    if args.format == "json":
        from ..render import json as r

        return r.render(tree, path=args.path, depth=args.depth, where=where)
    from ..render import layers as r

    return r.render(tree, width=args.width if args.width > 0 else None)

"""``imagefs extract IMAGE DIR``: write the merged root filesystem into a directory."""

from __future__ import annotations

import argparse
import sys

from . import _common

# Budgets beyond the two every command has (--max-inflated-bytes, --max-entries).
_MORE_BUDGETS = (
    (
        "max_inflate_ratio",
        "stop when a layer inflates more than N times its compressed size (gzip bombs)",
    ),
    ("max_path_length", "refuse paths longer than N bytes"),
    ("max_path_depth", "refuse paths deeper than N components"),
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "extract",
        help="write the image's merged filesystem into a new or empty directory",
        description=(
            "Write the merged root filesystem of IMAGE into DIR (which must be empty or not exist), "
            "exactly as 'imagefs list' shows it. Runs as an ordinary user and never writes outside DIR; "
            "device nodes and FIFOs are skipped; on failure DIR is left as it was."
        ),
    )
    p.add_argument(
        "image",
        metavar="IMAGE",
        help="oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, docker://REF",
    )
    p.add_argument(
        "dest", metavar="DIR", help="the directory to create (or an empty one)"
    )
    _common.add_image_options(p)
    b = p.add_argument_group("more budgets ('none' disables one)")
    for name, help_text in _MORE_BUDGETS:
        b.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar="N",
            type=_common.parse_count,
            default=argparse.SUPPRESS,
            help=help_text,
        )
    b.add_argument(
        "--max-symlink-hops",
        metavar="N",
        type=_common.positive_int,
        default=argparse.SUPPRESS,
        help="symlinks followed while resolving one path (default 40)",
    )
    x = p.add_argument_group("what to keep (root only)")
    x.add_argument(
        "--preserve-special-bits",
        action="store_true",
        help="keep setuid, setgid and sticky bits (only when running as root)",
    )
    x.add_argument(
        "--preserve-owners",
        action="store_true",
        help="apply uid/gid from the image (only as root)",
    )
    x.add_argument(
        "--preserve-xattrs",
        action="store_true",
        help="apply xattrs such as security.capability (only as root; trusted.* never)",
    )
    p.set_defaults(run=run)
    return p


def limits(args: argparse.Namespace):
    lim = _common.limits(args)
    for name, _ in (*_MORE_BUDGETS, ("max_symlink_hops", "")):
        if name in vars(args):
            setattr(lim, name, getattr(args, name))
    return lim


def run(args: argparse.Namespace) -> int:
    from ..extract import extract_image
    from ..progress import progress_for
    from ..sources import open_image

    lim = limits(args)
    progress = progress_for(sys.stderr, quiet=args.quiet)
    try:
        with open_image(
            args.image, args.platform, limits=lim, **_common.source_options(args)
        ) as image:
            result = extract_image(
                image,
                args.dest,
                limits=lim,
                preserve_special_bits=args.preserve_special_bits,
                preserve_owners=args.preserve_owners,
                preserve_xattrs=args.preserve_xattrs,
                symlinks=args.symlinks,
                cache=not args.no_cache,
                progress=progress,
            )
    finally:
        if progress is not None:
            progress.close()
    print(
        f"extracted {result.files} files, {result.dirs} directories, {result.symlinks} symlinks and "
        f"{result.hardlinks} hardlinks into {result.dest}",
        file=sys.stderr,
    )
    return 0

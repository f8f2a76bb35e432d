"""``imagefs extract IMAGE DIR``: write the merged root filesystem into a directory."""

from __future__ import annotations

import argparse
import sys

from . import _common

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


def run(args: argparse.Namespace) -> int:
    from ..extract import extract_image
    from ..progress import progress_for
    from ..sources import open_image

    lim = _common.limits(args)
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

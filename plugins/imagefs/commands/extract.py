"""``imagefs extract IMAGE DIR``: write the merged root filesystem into a directory."""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "extract",
        help="write the image's merged filesystem into a new or empty directory",
        description=(
            "Write the merged root filesystem of IMAGE into DIR (which must be empty or not exist), "
            "exactly as 'imagefs list' shows it. Runs as an ordinary user; never writes outside DIR; "
            "device nodes and FIFOs are skipped; on failure DIR is left as it was."
        ),
    )
    p.add_argument("image", metavar="IMAGE", help="oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE, docker://REF")
    p.add_argument("dest", metavar="DIR", help="the directory to create (or an empty one)")
    _add_common(p)
    p.add_argument("--preserve-special-bits", action="store_true",
                   help="keep setuid, setgid and sticky bits (only when running as root)")
    p.add_argument("--preserve-owners", action="store_true", help="apply uid/gid from the image (only as root)")
    p.add_argument("--preserve-xattrs", action="store_true",
                   help="apply xattrs such as security.capability (only as root; trusted.* never)")
    p.add_argument("--symlinks", choices=("overlay", "follow"), default="overlay",
                   help="symlink-over-directory model of the merge (default: overlay, like Docker/containerd)")
    p.set_defaults(run=run)
    return p


def _add_common(p: argparse.ArgumentParser) -> None:
    try:
        from . import _common
    except ImportError:
        _common = None  # type: ignore[assignment]
    if _common is not None and hasattr(_common, "add_image_options"):
        _common.add_image_options(p)
        return
    p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="the platform to pick from an index")
    p.add_argument("--no-cache", dest="cache", action="store_false", help="do not use the layer index cache")


def _limits(args: argparse.Namespace):
    try:
        from . import _common
    except ImportError:
        _common = None  # type: ignore[assignment]
    if _common is not None and hasattr(_common, "limits_from_args"):
        return _common.limits_from_args(args)
    return None


def run(args: argparse.Namespace) -> int:
    from ..extract import extract_image

    result = extract_image(
        args.image,
        args.dest,
        platform=getattr(args, "platform", None),
        limits=_limits(args),
        preserve_special_bits=args.preserve_special_bits,
        preserve_owners=args.preserve_owners,
        preserve_xattrs=args.preserve_xattrs,
        symlinks=args.symlinks,
        cache=getattr(args, "cache", True),
    )
    print(
        f"extracted {result.files} files, {result.dirs} directories, {result.symlinks} symlinks and "
        f"{result.hardlinks} hardlinks into {result.dest}",
        file=sys.stderr,
    )
    return 0

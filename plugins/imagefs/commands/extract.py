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
    _add_budgets(p)
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


_BUDGETS = (
    ("max_inflated_bytes", "total uncompressed bytes per layer"),
    ("max_inflate_ratio", "uncompressed:compressed ratio (gzip bombs)"),
    ("max_entries", "tar entries per layer"),
    ("max_path_length", "bytes in one path"),
    ("max_path_depth", "components in one path"),
    ("max_symlink_hops", "symlinks followed while resolving one path"),
)


def _budget(value: str) -> int | None:
    if value.lower() in ("none", "off", "unlimited"):
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'none', not {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, not {value!r}")
    return n


def _add_budgets(p: argparse.ArgumentParser) -> None:
    try:
        from . import _common
    except ImportError:
        _common = None  # type: ignore[assignment]
    if _common is not None and hasattr(_common, "add_limit_options"):
        _common.add_limit_options(p)
        return
    g = p.add_argument_group("budgets for untrusted images ('none' disables one)")
    for name, what in _BUDGETS:
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=_budget, default=argparse.SUPPRESS,
                       metavar="N", help=f"at most N {what}")


def _limits(args: argparse.Namespace):
    try:
        from . import _common
    except ImportError:
        _common = None  # type: ignore[assignment]
    if _common is not None and hasattr(_common, "limits_from_args"):
        return _common.limits_from_args(args)
    from ..sources.base import Limits

    given = {name: getattr(args, name) for name, _ in _BUDGETS if hasattr(args, name)}
    if "max_symlink_hops" in given and given["max_symlink_hops"] is None:
        from ..errors import UsageError

        raise UsageError("--max-symlink-hops cannot be 'none': symlink loops must end")
    return Limits(**given) if given else None


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

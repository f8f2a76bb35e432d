"""Options and steps the ``list``, ``diff`` and ``inspect`` commands share.

- image options: ``--platform``, ``--no-cache``, ``--symlinks overlay|follow``,
  ``-q/--quiet`` (no progress line), ``-j/--jobs N`` (layers read at once);
- registry options, handed to the source as ``source_options``
  ``{creds, insecure_registries, tls_verify}``: ``--creds USER:PASS`` (default
  ``$IMAGEFS_REGISTRY_CREDS``), ``--insecure-registry HOST`` (repeatable),
  ``--tls-verify=true|false``;
- budget options mapped onto :class:`~imagefs.sources.base.Limits`:
  ``--max-inflated-bytes SIZE`` (``64G``, ``500M``, ``none``), ``--max-entries N``,
  ``--max-inflate-ratio N``, ``--max-path-length N``, ``--max-path-depth N`` and
  ``--max-symlink-hops N``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from ..errors import UsageError

SYMLINK_MODELS = ("overlay", "follow")
# Layers read at once from a registry by default: downloads overlap, inflate stays bounded.
REGISTRY_JOBS = 4
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(text: str) -> int | None:
    """``"64G"`` -> 68719476736 (powers of 1024); ``"none"`` -> ``None`` (no limit)."""
    if text.strip().lower() in ("none", "unlimited"):
        return None
    m = _SIZE_RE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (examples: 1048576, 500M, 64G, none)")
    return int(float(m.group(1)) * 1024 ** _POWERS[m.group(2).lower()])


def _whole(text: str, minimum: int, *, none_ok: bool = False) -> int:
    """An integer of at least ``minimum``, with a one-line argparse error otherwise."""
    suffix = " (or none)" if none_ok else ""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number{suffix}") from None
    if n < minimum:
        bound = "0 or more" if minimum == 0 else f"at least {minimum}"
        raise argparse.ArgumentTypeError(f"{text!r} must be {bound}{suffix}")
    return n


def parse_count(text: str) -> int | None:
    if text.strip().lower() in ("none", "unlimited"):
        return None
    return _whole(text, 1, none_ok=True)


def parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("true", "1", "yes", "on"):
        return True
    if t in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def positive_int(text: str) -> int:
    return _whole(text, 1)


def non_negative_int(text: str) -> int:
    return _whole(text, 0)



class _Intermixed:
    """Parse positionals that come after options (``list IMAGE -f ls /etc``).

    Plain argparse binds every positional at the first run of positionals, so a PATH after
    an option would be "unrecognized". The subcommand parser parses intermixed instead.
    """

    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        if self._intermixing:
            return super().parse_known_args(args, namespace)  # type: ignore[misc]
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)  # type: ignore[attr-defined]
        finally:
            self._intermixing = False


def intermixed(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let ``parser`` take positionals after options (see :class:`_Intermixed`)."""
    cls = type(parser)
    parser.__class__ = type(f"Intermixed{cls.__name__}", (_Intermixed, cls), {})
    return parser


# Budgets given as a count ('none' disables one), besides --max-inflated-bytes and --max-entries.
_MORE_BUDGETS = (
    ("max_inflate_ratio", "stop when a layer inflates more than N times its compressed size (gzip bombs)"),
    ("max_path_length", "refuse paths longer than N bytes"),
    ("max_path_depth", "refuse paths deeper than N components"),
)


def add_image_options(parser: argparse.ArgumentParser) -> None:
    intermixed(parser)
    g = parser.add_argument_group("image options")
    g.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="platform to pick from an index (default: this host's)")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the per-layer index cache")
    g.add_argument(
        "--symlinks",
        choices=SYMLINK_MODELS,
        default="overlay",
        help="how an upper layer's path under a lower symlink merges: overlay (Docker/containerd, default) "
        "or follow (write through the link, as umoci and vfs do)",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no progress line on stderr")
    g.add_argument(
        "-j", "--jobs", type=positive_int, metavar="N",
        help=f"layers to read at once (default: {REGISTRY_JOBS} from a registry, 1 from local files)",
    )
    r = parser.add_argument_group("registry options")
    r.add_argument("--creds", metavar="USER:PASS", help="registry credentials (default: $IMAGEFS_REGISTRY_CREDS)")
    r.add_argument(
        "--insecure-registry",
        metavar="HOST",
        action="append",
        default=[],
        help="allow plain HTTP / unverified TLS for this registry (repeatable)",
    )
    r.add_argument("--tls-verify", metavar="true|false", type=parse_bool, default=True, help="verify registry TLS (default true)")
    b = parser.add_argument_group("budgets for untrusted images")
    b.add_argument("--max-inflated-bytes", metavar="SIZE", type=parse_size, default=argparse.SUPPRESS,
                   help="stop when a layer inflates past SIZE (e.g. 64G, 500M, none)")
    b.add_argument("--max-entries", metavar="N", type=parse_count, default=argparse.SUPPRESS,
                   help="stop past N entries in a layer (or none)")
    for name, help_text in _MORE_BUDGETS:
        b.add_argument("--" + name.replace("_", "-"), dest=name, metavar="N", type=parse_count,
                       default=argparse.SUPPRESS, help=help_text)
    b.add_argument("--max-symlink-hops", metavar="N", type=positive_int, default=argparse.SUPPRESS,
                   help="symlinks followed while resolving one path (default 40)")


def source_options(args: argparse.Namespace) -> dict[str, Any]:
    """What the source gets: ``{creds, insecure_registries, tls_verify}``."""
    creds = args.creds if args.creds is not None else os.environ.get("IMAGEFS_REGISTRY_CREDS") or None
    if creds is not None and ":" not in creds:
        raise UsageError("--creds: expected USER:PASS (or set IMAGEFS_REGISTRY_CREDS=USER:PASS)")
    return {
        "creds": creds,
        "insecure_registries": tuple(args.insecure_registry),
        "tls_verify": args.tls_verify,
    }


def limits(args: argparse.Namespace):
    from ..sources.base import Limits

    lim = Limits()
    for name in ("max_inflated_bytes", "max_entries", *(n for n, _ in _MORE_BUDGETS), "max_symlink_hops"):
        if name in vars(args):
            setattr(lim, name, getattr(args, name))
    return lim


def open_image(args: argparse.Namespace, reference: str):
    """Open ``reference`` with the command's platform, budgets and registry options."""
    from ..sources import open_image as _open

    return _open(reference, args.platform, limits=limits(args), **source_options(args))


def list_tree(args: argparse.Namespace, reference: str):
    """The merged :class:`~imagefs.tree.Tree` of ``reference`` (progress on a TTY)."""
    from ..listing import list_image
    from ..progress import progress_for
    from ..reference import parse

    jobs = args.jobs
    if jobs is None:
        jobs = REGISTRY_JOBS if parse(reference).transport == "docker" else 1
    progress = progress_for(sys.stderr, quiet=args.quiet)
    try:
        with open_image(args, reference) as image:
            return list_image(
                image,
                cache=not args.no_cache,
                limits=image.limits,
                symlinks=args.symlinks,
                progress=progress,
                workers=jobs,
            )
    finally:
        if progress is not None:
            progress.close()


def emit(text: str) -> None:
    """Write ``text`` to stdout, as UTF-8 even when the locale's encoding cannot hold it."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
    sys.stdout.flush()

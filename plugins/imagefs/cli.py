"""The ``imagefs`` command line: a thin layer over the library.

Each subcommand lives in ``imagefs.commands.<name>`` and provides ``add_parser(subparsers)``
and ``run(args) -> int``. ``main`` maps typed errors to exit codes: 0 success, 1 a bad or
broken image, 2 bad usage. Errors are one line on stderr: ``imagefs: error: ...``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import NoReturn, Sequence

from . import __version__
from .errors import ImagefsError

COMMANDS = ("list", "diff", "inspect", "extract", "snapshot", "refresh")

log = logging.getLogger("imagefs")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error; the usage is one `--help` away.
        self.exit(2, f"imagefs: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="imagefs",
        description="Read container images without running them: list, diff, inspect and extract their filesystems.",
    )
    parser.add_argument("--version", action="version", version=f"imagefs {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as err:
            if err.name and err.name.endswith(f"commands.{name}"):
                continue  # command not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="imagefs: %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.run(args) or 0)
    except ImagefsError as err:
        print(f"imagefs: error: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("imagefs: error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `imagefs list … | head`: the reader went away; that is not an error.
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            return 0


def one_line(message: str) -> str:
    """Errors are one line: fold newlines and make control characters visible."""
    from .names import visible

    return visible(message.replace("\n", " "))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""One module per ``imagefs`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``."""

#!/usr/bin/env python3
"""Thin entry point to the ``imagefs`` command line (same as the installed ``imagefs``).

Works from a checkout without installing: the checkout's ``plugins/`` goes first on
``sys.path``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))

from imagefs.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Regenerate the docs' snapshots: ``imagefs refresh`` with the same options.

Run from the project root: ``python3 scripts/regenerate_listings.py [--check] [--only NAME]``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins"))

from imagefs.cli import main

if __name__ == "__main__":
    sys.exit(main(["refresh", *sys.argv[1:]]))

"""Real file content from Debian packages: ``apt-get download`` into a cache, ``dpkg-deb -x``.

The cache is ``build/debs/`` in the checkout (ignored by git), so a second run downloads
nothing. The versions are whatever the machine's apt lists offer: the peer tests compare
imagefs with umoci on the same bytes, never with a stored listing, so a newer tzdata
changes nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "debs"


class Unavailable(Exception):
    """A Debian package could not be downloaded (no apt lists, no network)."""


def download(names: list[str], cache: Path = CACHE) -> dict[str, Path]:
    """Return ``{package: .deb path}``, downloading what the cache lacks."""
    cache.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_", 1)[0]: p for p in cache.glob("*.deb")}
    missing = [n for n in names if n not in have]
    if missing:
        # Sandbox user root: as root, the _apt user cannot write into a private cache dir.
        cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *missing]
        proc = subprocess.run(cmd, cwd=cache, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise Unavailable(f"`{' '.join(cmd)}` failed: {proc.stderr.strip().splitlines()[-1:]}")
        have = {p.name.split("_", 1)[0]: p for p in cache.glob("*.deb")}
    return {n: have[n] for n in names}


def extract(deb: Path, dest: Path) -> None:
    """Unpack a package's files (``dpkg-deb -x``) over ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg-deb", "-x", os.fspath(deb), os.fspath(dest)], check=True, stdin=subprocess.DEVNULL)
